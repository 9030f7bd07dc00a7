import { ENDPOINT_KINDS, type Endpoint } from '../api/endpoints.ts';
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

/** The first `n` words of text (the simulator's tokens are words), with the spacing between them. */
function firstWords(text: string, n: number): string {
  if (n <= 0) return '';
  let end = 0;
  let words = 0;
  for (const m of text.matchAll(/\S+/g)) {
    end = m.index + m[0].length;
    if (++words === n) break;
  }
  return text.slice(0, end);
}

/**
 * The answer within the request's output-token cap, reasoning included, as Sail bills it: a
 * server stops generating at the cap, so usage never passes it (the spending cap reserves
 * exactly that much), and an answer that would be longer is cut there.
 */
function withinCap(body: Record<string, unknown>, endpoint: Endpoint, text: string, reasoning: number): { text: string; output: number; reasoning: number; cut: boolean } {
  const field = ENDPOINT_KINDS[endpoint].maxTokensField;
  const cap = body[field] ?? (endpoint === '/v1/chat/completions' ? body['max_tokens'] : undefined);
  const words = countTokens(text);
  if (typeof cap !== 'number' || words + reasoning <= cap) return { text, output: words + reasoning, reasoning, cut: false };
  const r = Math.min(reasoning, cap);
  const kept = firstWords(text, cap - r);
  return { text: kept, output: countTokens(kept) + r, reasoning: r, cut: true };
}

/** A response object as GET /v1/responses/{id} shows it at time `now`. */
export function renderResponse(rec: ResponseRecord, now: number, o: RenderOptions): Record<string, unknown> {
  const scheduled = statusAt(rec, now, o);
  const done = scheduled === 'completed' || scheduled === 'incomplete';
  const faultCut = done && (rec.outcome === 'incomplete' || rec.outcome === 'truncated');
  const answer = withinCap(
    rec.body,
    '/v1/responses',
    faultCut ? rec.text.slice(0, Math.ceil(rec.text.length / 2)) : rec.text,
    done && (rec.body['reasoning'] as { effort?: string } | undefined)?.effort ? 8 : 0,
  );
  const status = done && answer.cut ? 'incomplete' : scheduled;
  const cut = faultCut || (done && answer.cut);
  const text = answer.text;
  const inTokens = countTokens(requestText(rec.body));
  const outTokens = done ? answer.output - answer.reasoning : 0;
  const reasoning = done ? answer.reasoning : 0;
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
  const { text, output: outTokens, cut } = withinCap(rec.body, endpoint === '/v1/messages' ? endpoint : '/v1/chat/completions', rec.text, 0);
  if (endpoint === '/v1/messages') {
    return {
      id: rec.id,
      type: 'message',
      role: 'assistant',
      model: rec.model,
      content: [{ type: 'text', text }],
      stop_reason: cut ? 'max_tokens' : 'end_turn',
      usage: { input_tokens: inTokens, output_tokens: outTokens },
    };
  }
  return {
    id: rec.id,
    object: 'chat.completion',
    created: Math.floor(rec.createdAtMs / 1000),
    model: rec.model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: cut ? 'length' : 'stop' }],
    usage: { prompt_tokens: inTokens, completion_tokens: outTokens, total_tokens: inTokens + outTokens },
  };
}
