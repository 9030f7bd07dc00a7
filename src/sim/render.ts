import { countTokens, requestText } from './deterministic.ts';
import type { Outcome } from './faults.ts';

/**
 * How the simulator shows what it holds: a stored response rendered at a moment in time (its
 * status follows the clock, so nothing needs a timer), in the vocabulary and output shape the
 * simulator was asked to speak.
 */
export interface ResponseRecord {
  id: string;
  apiKey: string;
  body: Record<string, unknown>;
  model: string;
  createdAtMs: number;
  readyAtMs: number;
  outcome: Outcome;
  text: string;
}

export interface RenderOptions {
  statusVocabulary: 'sail' | 'openai';
  outputShape: 'string' | 'items';
}

function statusAt(rec: ResponseRecord, now: number, o: RenderOptions): string {
  const openai = o.statusVocabulary === 'openai';
  if (now >= rec.readyAtMs) return rec.outcome === 'truncated' ? 'completed' : rec.outcome;
  if (now >= rec.createdAtMs + (rec.readyAtMs - rec.createdAtMs) / 3) return openai ? 'in_progress' : 'running';
  return openai ? 'queued' : 'pending';
}

/** A response object as GET /v1/responses/{id} shows it at time `now`. */
export function renderResponse(rec: ResponseRecord, now: number, o: RenderOptions): Record<string, unknown> {
  const status = statusAt(rec, now, o);
  const done = status === 'completed' || status === 'incomplete';
  const cut = done && (rec.outcome === 'incomplete' || rec.outcome === 'truncated');
  const text = cut ? rec.text.slice(0, Math.ceil(rec.text.length / 2)) : rec.text;
  const inTokens = countTokens(requestText(rec.body));
  const outTokens = done ? countTokens(text) : 0;
  const reasoning = done && (rec.body['reasoning'] as { effort?: string } | undefined)?.effort ? 8 : 0;
  const output =
    !done ? (o.outputShape === 'string' ? '' : [])
    : o.outputShape === 'string' ? text
    : [{ type: 'message', id: `msg_${rec.id}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] }];
  return {
    id: rec.id,
    object: 'response',
    created_at: Math.floor(rec.createdAtMs / 1000),
    status,
    model: rec.model,
    usage: {
      input_tokens: inTokens,
      input_tokens_details: { cached_tokens: 0, reasoning_tokens: 0 },
      output_tokens: outTokens + reasoning,
      output_tokens_details: { cached_tokens: 0, reasoning_tokens: reasoning },
      total_tokens: inTokens + outTokens + reasoning,
    },
    metadata: rec.body['metadata'] ?? {},
    input: rec.body['input'],
    output,
    error: status === 'failed' ? { code: 'server_error', message: 'The simulated model failed to produce a response.' } : null,
    incomplete_details: cut ? { reason: 'max_output_tokens' } : null,
    max_output_tokens: rec.body['max_output_tokens'] ?? null,
    reasoning: rec.body['reasoning'] ?? {},
    text: rec.body['text'] ?? { format: { type: 'text' } },
    store: true,
    background: rec.body['background'] === true,
    temperature: rec.body['temperature'] ?? 1,
    top_p: rec.body['top_p'] ?? 1,
    truncation: 'disabled',
    user: rec.body['user'] ?? null,
  };
}

/** The reply of a synchronous endpoint (chat completions, messages). */
export function renderSyncReply(endpoint: string, rec: ResponseRecord): Record<string, unknown> {
  const inTokens = countTokens(requestText(rec.body));
  const outTokens = countTokens(rec.text);
  if (endpoint === '/v1/messages') {
    return {
      id: rec.id,
      type: 'message',
      role: 'assistant',
      model: rec.model,
      content: [{ type: 'text', text: rec.text }],
      stop_reason: 'end_turn',
      usage: { input_tokens: inTokens, output_tokens: outTokens },
    };
  }
  return {
    id: rec.id,
    object: 'chat.completion',
    created: Math.floor(rec.createdAtMs / 1000),
    model: rec.model,
    choices: [{ index: 0, message: { role: 'assistant', content: rec.text }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: inTokens, completion_tokens: outTokens, total_tokens: inTokens + outTokens },
  };
}
