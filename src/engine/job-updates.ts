import type { ApiReply } from '../api/client.ts';
import { checkAnswer } from '../answers/answer-checks.ts';
import { endpointOf } from '../api/endpoints.ts';
import type { JobUpdate, SentKey, WorkJob } from '../checkpoint/store.ts';
import { JOB_STATES, type JobState } from '../checkpoint/job-states.ts';
import { resultTokens } from '../cost/usage.ts';

type Finished = Extract<JobUpdate, { kind: 'finished' }>;
type EndState = Finished['state'];

function endState(state: JobState): EndState {
  if (state === JOB_STATES.pending || state === JOB_STATES.submitted || state === JOB_STATES.invalid) {
    throw new Error(`not an end state: ${state}`);
  }
  return state;
}

/**
 * The final object as stored: the server's own text, which is already the JSON to write, with
 * `output_text` added at its end when the server did not send one. Parsing and serialising every
 * result again cost a spread copy and a stringify per job. A text that spans lines (a server
 * that pretty-prints) is serialised again, since each result is spliced into one output line.
 */
function storedResult(reply: ApiReply, text: string | null): string {
  const raw = reply.text;
  const add = text !== null && reply.body['output_text'] === undefined;
  if (raw.includes('\n') || raw.includes('\r')) return JSON.stringify(add ? { ...reply.body, output_text: text } : reply.body);
  if (!add) return raw;
  const end = raw.lastIndexOf('}');
  // An object without keys has no comma to add: rare enough to serialise.
  if (Object.keys(reply.body).length === 0) return JSON.stringify({ output_text: text });
  return `${raw.slice(0, end)},"output_text":${JSON.stringify(text)}}`;
}

/**
 * The JSON Schema a stored request asks its answer to follow, if any. Every endpoint asks with a
 * format of type "json_schema", and a stored body is JSON.stringify's text (which escapes no
 * letter), so a body without those words asks for none and is not parsed.
 */
function requestSchema(row: { url: string; body: string | null }): Record<string, unknown> | undefined {
  if (row.body === null || !row.body.includes('json_schema')) return undefined;
  return endpointOf(row.url).schemaOf(JSON.parse(row.body) as Record<string, unknown>);
}

/**
 * The final update of a job from the server's final object. `output_text` is added when the
 * server did not send it (OpenAI's SDKs compute it the same way), so every result line has its
 * text in one place whatever the response shape was. What the server calls completed goes
 * through the answer checks, which may make it `incomplete` or `invalid_output`, against the
 * JSON Schema the stored request (`body`) asked its answer to follow, if any.
 */
export function finishedUpdate(row: Pick<WorkJob, 'idx' | 'attempt' | 'url'> & { body: string | null; idempotencyKey?: SentKey }, serverState: JobState, reply: ApiReply): Finished {
  const body = reply.body;
  const kind = endpointOf(row.url);
  const text = kind.outputText(body);
  let state = serverState;
  let errorCode: string | null = null;
  let errorMessage: string | null = null;
  let parsed: string | null = null;
  if (state === JOB_STATES.completed) {
    const verdict = checkAnswer(kind, body, requestSchema(row));
    state = verdict.state;
    if (verdict.state === JOB_STATES.completed) parsed = verdict.parsed;
    else ({ errorCode, errorMessage } = verdict);
  } else {
    const err = body['error'] as { code?: unknown; message?: unknown } | null | undefined;
    const incomplete = body['incomplete_details'] as { reason?: unknown } | null | undefined;
    errorCode = typeof err?.code === 'string' ? err.code : state === JOB_STATES.incomplete ? 'incomplete' : `response_${state}`;
    errorMessage =
      typeof err?.message === 'string'
        ? err.message
        : state === JOB_STATES.incomplete
          ? `response ended incomplete${typeof incomplete?.reason === 'string' ? ` (${incomplete.reason})` : ''}`
          : `response ended ${state}`;
  }
  return {
    kind: 'finished',
    idx: row.idx,
    attempt: row.attempt,
    state: endState(state),
    responseId: typeof body['id'] === 'string' ? body['id'] : null,
    apiStatus: typeof body['status'] === 'string' ? body['status'] : null,
    statusCode: reply.status,
    requestId: reply.requestId,
    result: storedResult(reply, text),
    tokens: resultTokens(body),
    parsed,
    errorCode,
    errorMessage,
    idempotencyKey: row.idempotencyKey,
  };
}

export function failedUpdate(
  row: Pick<WorkJob, 'idx' | 'attempt'> & { idempotencyKey?: SentKey },
  errorCode: string,
  errorMessage: string,
  statusCode: number | null,
  body: unknown,
  state: EndState = JOB_STATES.failed,
): Finished {
  return {
    kind: 'finished',
    idx: row.idx,
    attempt: row.attempt,
    state,
    responseId: null,
    apiStatus: null,
    statusCode,
    requestId: null,
    result: body === null || body === undefined ? null : JSON.stringify(body),
    tokens: resultTokens(body),
    parsed: null,
    errorCode,
    errorMessage,
    idempotencyKey: row.idempotencyKey,
  };
}
