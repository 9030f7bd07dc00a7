import type { ApiReply } from '../api/client.ts';
import { endpointOf } from '../api/endpoints.ts';
import type { JobRow, JobUpdate } from '../checkpoint/checkpoint.ts';
import { JOB_STATES, type JobState } from '../checkpoint/job-states.ts';

type Finished = Extract<JobUpdate, { kind: 'finished' }>;
type EndState = Finished['state'];

function endState(state: JobState): EndState {
  if (state === JOB_STATES.pending || state === JOB_STATES.submitted || state === JOB_STATES.invalid) {
    throw new Error(`not an end state: ${state}`);
  }
  return state;
}

/**
 * The final update of a job from the server's final object. `output_text` is added when the
 * server did not send it (OpenAI's SDKs compute it the same way), so every result line has its
 * text in one place whatever the response shape was.
 */
export function finishedUpdate(row: JobRow, state: JobState, reply: ApiReply): Finished {
  const body = reply.body;
  const text = endpointOf(row.url).outputText(body);
  const result = text !== null && body['output_text'] === undefined ? { ...body, output_text: text } : body;
  let errorCode: string | null = null;
  let errorMessage: string | null = null;
  if (state !== JOB_STATES.completed) {
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
    result: JSON.stringify(result),
    errorCode,
    errorMessage,
  };
}

export function failedUpdate(
  row: JobRow,
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
    errorCode,
    errorMessage,
  };
}
