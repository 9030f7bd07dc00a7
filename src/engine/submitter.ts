import { RequestFailed, type SailClient } from '../api/client.ts';
import { endpointOf } from '../api/endpoints.ts';
import { stateForApiStatus, JOB_STATES } from '../checkpoint/job-states.ts';
import type { JobToSend, JobUpdate } from '../checkpoint/store.ts';
import { crashPoint } from './crash-points.ts';
import { finishedUpdate, failedUpdate } from './job-updates.ts';

/** The POST's fate is unknown (no usable answer): try it again later in this run, same key. */
export interface Deferred {
  kind: 'deferred';
  idx: number;
  reason: string;
}

/**
 * Failures after which the server may or may not have started the inference. Ending the job
 * `failed` would send the user to `retry`, whose new key pays again if it did; so the job stays
 * pending and is sent again later with the same key, which is free either way. A 5xx is not in
 * here: the server answered, and it may keep replaying that stored error for this key.
 */
const AMBIGUOUS = new Set(['connection_error', 'timeout', 'invalid_body', 'idempotency_key_in_use', 'unknown_error']);

/**
 * Sends one pending job. A background response becomes `submitted` (or terminal at once if the
 * server already finished it, as a replayed key may show); a synchronous endpoint's reply is the
 * result. A request the policy will not retry ends the job `failed` with the server's message,
 * unless its outcome is ambiguous and `mayDefer` (see AMBIGUOUS).
 * Fatal run errors and aborts propagate.
 *
 * The stored body is sent as the text it is stored as; only `decorate` (what a send adds to it,
 * such as webhook metadata) makes it parsed and serialised again.
 */
export async function submitJob(
  client: SailClient,
  row: JobToSend,
  firstPollAt: (row: JobToSend) => number,
  signal: AbortSignal,
  decorate?: (body: Record<string, unknown>) => Record<string, unknown>,
  mayDefer = false,
): Promise<JobUpdate | Deferred> {
  const body = decorate ? JSON.stringify(decorate(JSON.parse(row.body) as Record<string, unknown>)) : row.body;
  const key = row.idempotencyKey;
  const kind = endpointOf(row.url);
  try {
    if (kind.mode === 'sync') {
      const reply = await client.createSync(row.url, body, key, signal);
      crashPoint('post-replied');
      return finishedUpdate(row, JOB_STATES.completed, reply);
    }
    const reply = await client.createResponse(body, key, signal);
    crashPoint('post-replied');
    const id = reply.body['id'];
    if (typeof id !== 'string' || id === '') {
      return failedUpdate(row, 'invalid_response', `POST ${row.url} answered HTTP ${reply.status} without a response id`, reply.status, reply.body);
    }
    const state = stateForApiStatus(reply.body['status']);
    // A replayed key can return a response the server already let expire. Only a job out at the
    // server can become `expired`; one that never left `pending` here ends `failed`, for `retry`.
    if (state === JOB_STATES.expired) {
      return {
        ...finishedUpdate(row, JOB_STATES.failed, reply),
        errorCode: 'response_expired',
        errorMessage: `the server answered this job's idempotency key with response ${id}, which has expired; \`sailbatch retry\` sends it with a new key`,
      };
    }
    if (state !== JOB_STATES.submitted) return finishedUpdate(row, state, reply);
    return {
      kind: 'submitted',
      idx: row.idx,
      attempt: row.attempt,
      responseId: id,
      apiStatus: typeof reply.body['status'] === 'string' ? reply.body['status'] : null,
      requestId: reply.requestId,
      nextPollAtMs: firstPollAt(row),
      idempotencyKey: key,
    };
  } catch (e) {
    if (!(e instanceof RequestFailed)) throw e;
    const c = e.classification;
    if (c.verdict === 'retry' && AMBIGUOUS.has(c.reason) && mayDefer) return { kind: 'deferred', idx: row.idx, reason: c.reason };
    const why =
      c.reason === 'idempotency_key_reused'
        ? `${e.message}. The server holds this job's idempotency key for a different body; ` +
          'run `sailbatch retry` to send it with a new key (or start a new batch with another --db and --namespace)'
        : c.verdict === 'retry'
          ? `${e.message} (gave up after the retry budget; \`sailbatch retry\` sends it again with a new key, ` +
            'which pays again if the server did run it)'
          : e.message;
    return failedUpdate(row, c.reason, why, e.error.status ?? null, e.error.body ?? null);
  }
}
