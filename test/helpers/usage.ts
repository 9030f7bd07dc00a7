/**
 * Token usage read from one result body in JavaScript, in any of the three result shapes: an
 * oracle independent of the SQL in src/checkpoint/summary.ts, which the tests compare it with.
 */
export interface Usage {
  input: number;
  output: number;
  cached: number;
  reasoning: number;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Token usage in any of the three result shapes. */
export function usageOf(body: Record<string, unknown>): Usage {
  const u = (body['usage'] ?? {}) as Record<string, Record<string, unknown> | number | undefined>;
  const inDetails = (u['input_tokens_details'] ?? u['prompt_tokens_details'] ?? {}) as Record<string, unknown>;
  const outDetails = (u['output_tokens_details'] ?? u['completion_tokens_details'] ?? {}) as Record<string, unknown>;
  return {
    input: num(u['input_tokens'] ?? u['prompt_tokens']),
    output: num(u['output_tokens'] ?? u['completion_tokens']),
    cached: num(inDetails['cached_tokens']) + num(u['cache_read_input_tokens']),
    reasoning: num(outDetails['reasoning_tokens']),
  };
}
