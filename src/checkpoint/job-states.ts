/**
 * The states a job goes through, declared once. SQL and code use these constants only.
 *
 * pending    The line is validated and stored; nothing is known to have been sent for the current
 *            attempt. Entered on load and when a user retries an unsuccessful job (attempt + 1,
 *            hence a new idempotency key). Leaves by a POST: to `submitted` (background response
 *            accepted), straight to a terminal state (synchronous endpoint, or a permanent error).
 *            A POST may have reached the server while the job is still `pending` here (crash
 *            before the checkpoint flush); the idempotency key makes the next POST a replay.
 * submitted  The server holds a response id for this job. Polled until its status is terminal.
 *            Leaves to `completed`, `failed`, `incomplete`, `cancelled`, or `expired` (404 on
 *            poll, or still not done well past its completion window).
 * completed  Terminal. The final response object is stored.
 * failed, incomplete, cancelled, expired
 *            Terminal for this attempt; the output line carries the error. `retry` moves them
 *            back to `pending` with attempt + 1. A response the server calls completed but that
 *            was cut at the output-token cap is `incomplete` (src/answers/answer-checks.ts).
 * invalid_output
 *            Terminal for this attempt: the server answered, but the request asked for JSON
 *            following a schema and the answer is not JSON or breaks the schema. Entered from
 *            wherever `completed` is (the answer checks decide between the two, once). Paid for,
 *            so never resent on its own; `retry` (or --output-retries) asks again with
 *            attempt + 1, a new idempotency key and so a fresh answer.
 * not_sent_budget
 *            Not terminal, and not sent: a run with --max-cost stopped sending before this job,
 *            because its reservation would have passed the cap. Entered from `pending` at the end
 *            of such a run (so the output and `status` say why the line has no answer); the next
 *            run moves it back to `pending` with the same attempt and the same idempotency key,
 *            so rerunning with a higher cap continues where the cap stopped, paying for nothing twice.
 * invalid    Terminal and never sent: the line failed validation and the user chose
 *            --skip-invalid. Its output line carries the validation error. Not retryable: the
 *            fix is to edit the input, which makes a new batch.
 */
export const JOB_STATES = {
  pending: 'pending',
  submitted: 'submitted',
  completed: 'completed',
  failed: 'failed',
  incomplete: 'incomplete',
  cancelled: 'cancelled',
  expired: 'expired',
  invalid: 'invalid',
  invalid_output: 'invalid_output',
  not_sent_budget: 'not_sent_budget',
} as const;

export type JobState = (typeof JOB_STATES)[keyof typeof JOB_STATES];

const S = JOB_STATES;

export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  [S.pending]: [S.submitted, S.completed, S.failed, S.incomplete, S.cancelled, S.invalid_output, S.not_sent_budget],
  [S.submitted]: [S.completed, S.failed, S.incomplete, S.cancelled, S.expired, S.invalid_output],
  [S.completed]: [],
  [S.failed]: [S.pending],
  [S.incomplete]: [S.pending],
  [S.cancelled]: [S.pending],
  [S.expired]: [S.pending],
  [S.invalid]: [],
  [S.invalid_output]: [S.pending],
  [S.not_sent_budget]: [S.pending],
};

export const TERMINAL_STATES: readonly JobState[] = [
  S.completed,
  S.failed,
  S.incomplete,
  S.cancelled,
  S.expired,
  S.invalid,
  S.invalid_output,
];

/** Terminal states that `retry` sends back to `pending` (with a new attempt: not_sent_budget keeps its own). */
export const RETRYABLE_STATES: readonly JobState[] = (Object.keys(TRANSITIONS) as JobState[]).filter(
  (s) => TERMINAL_STATES.includes(s) && TRANSITIONS[s].includes(S.pending),
);

/** States of jobs that are not finished: the output marks them so, and a rerun goes on with them. */
export const UNFINISHED_STATES: readonly JobState[] = [S.pending, S.submitted, S.not_sent_budget];

/** States a job may be in just before entering `to`. */
export function sourcesOf(to: JobState): JobState[] {
  return (Object.keys(TRANSITIONS) as JobState[]).filter((from) => TRANSITIONS[from].includes(to));
}

export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.includes(state);
}

/**
 * API response statuses onto job states. Sail's schema says pending/running, OpenAI's (and Sail's
 * idempotency page) queued/in_progress; both mean "still submitted". Unknown statuses are treated
 * as still running: the completion-window deadline bounds how long that can last.
 */
export function stateForApiStatus(status: unknown): JobState {
  switch (status) {
    case 'completed':
      return S.completed;
    case 'failed':
      return S.failed;
    case 'incomplete':
      return S.incomplete;
    case 'cancelled':
    case 'canceled':
      return S.cancelled;
    case 'expired':
      return S.expired;
    default:
      return S.submitted;
  }
}
