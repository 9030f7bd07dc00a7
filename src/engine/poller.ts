import { RequestFailed, type SailClient } from '../api/client.ts';
import type { JobToPoll, JobUpdate } from '../checkpoint/store.ts';
import { JOB_STATES, stateForApiStatus } from '../checkpoint/job-states.ts';
import { crashPoint } from './crash-points.ts';
import { failedUpdate, finishedUpdate } from './job-updates.ts';

export interface PollContext {
  /** When to poll again, given the job and how many polls it has had. */
  nextPollAt: (row: JobToPoll) => number;
  /** When a job still not terminal ends `expired`. */
  deadlineAt: (row: JobToPoll) => number;
  signal: AbortSignal;
}

/**
 * One poll of one submitted job: terminal status → the final update; still running → when to
 * look again, or `expired` past the deadline; 404 → `expired` (the server no longer has it).
 * A GET that keeps failing transiently only postpones the next poll: the response is safe at the
 * server, and only the POST's idempotency key could ever cost money.
 */
export async function pollJob(client: SailClient, row: JobToPoll, ctx: PollContext): Promise<JobUpdate> {
  const now = () => Date.now();
  try {
    const reply = await client.getResponse(row.responseId, ctx.signal);
    crashPoint('mid-poll');
    const state = stateForApiStatus(reply.body['status']);
    if (state !== JOB_STATES.submitted) return finishedUpdate(row, state, reply);
    if (now() >= ctx.deadlineAt(row)) {
      return failedUpdate(
        row,
        'deadline_exceeded',
        `response ${row.responseId} was still "${String(reply.body['status'])}" past its deadline ` +
          `(completion window ${row.completionWindow} plus grace); \`sailbatch retry\` sends it again`,
        reply.status,
        reply.body,
        JOB_STATES.expired,
      );
    }
    return {
      kind: 'polled',
      idx: row.idx,
      attempt: row.attempt,
      apiStatus: typeof reply.body['status'] === 'string' ? reply.body['status'] : null,
      nextPollAtMs: ctx.nextPollAt(row),
    };
  } catch (e) {
    if (!(e instanceof RequestFailed)) throw e;
    const c = e.classification;
    if (c.verdict === 'gone') {
      return failedUpdate(
        row,
        'response_not_found',
        `the server no longer has response ${row.responseId} (HTTP 404); \`sailbatch retry\` sends the job again`,
        404,
        e.error.body ?? null,
        JOB_STATES.expired,
      );
    }
    if (c.verdict === 'job') return failedUpdate(row, c.reason, e.message, e.error.status ?? null, e.error.body ?? null);
    if (now() >= ctx.deadlineAt(row)) {
      return failedUpdate(row, 'deadline_exceeded', `${e.message} (and the job is past its deadline)`, null, null, JOB_STATES.expired);
    }
    return { kind: 'polled', idx: row.idx, attempt: row.attempt, apiStatus: row.apiStatus, nextPollAtMs: ctx.nextPollAt(row) };
  }
}
