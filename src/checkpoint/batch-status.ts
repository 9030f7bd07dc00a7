import { Checkpoint, type JobRow } from './checkpoint.ts';
import { runOptionsSchema } from '../options.ts';
import { JOB_STATES, TERMINAL_STATES, type JobState } from './job-states.ts';
import { summarize, type CheckpointSummary } from './summary.ts';

export interface RunningJob {
  line: number;
  customId: string | null;
  responseId: string | null;
  /** The API's last reported status (queued, in_progress, ...). */
  apiStatus: string | null;
  /** Since the job was submitted. */
  ageMs: number;
  polls: number;
  attempt: number;
}

export interface ErroredJob {
  line: number;
  customId: string | null;
  state: JobState;
  code: string | null;
  message: string | null;
  attempt: number;
}

export interface BatchStatus extends CheckpointSummary {
  db: string;
  input: string | null;
  /** False while the input is still being validated and stored. */
  loaded: boolean;
  /** The process holding the run lease, if any. `live` is false once its heartbeat is stale (it died). */
  runner: { pid: number; host: string; heartbeatAgeMs: number; live: boolean } | null;
  /** Submitted jobs, longest out first. */
  oldestRunning: RunningJob[];
  /** The first jobs in input order that ended other than completed. */
  errors: ErroredJob[];
  /** When these figures were read. */
  atMs: number;
}

export interface StatusOptions {
  /** How many of the oldest running jobs to list. @default 5 */
  running?: number;
  /** How many errored jobs to list. @default 5 */
  errors?: number;
}

const ERROR_STATES = TERMINAL_STATES.filter((s) => s !== JOB_STATES.completed);
/** For checkpoints whose recorded options lack it: the run's own default. */
const DEFAULT_LEASE_STALE_MS = runOptionsSchema.shape.leaseStaleMs.parse(undefined);

const ERROR_SAMPLE_SQL = `SELECT * FROM jobs WHERE state IN (${ERROR_STATES.map((s) => `'${s}'`).join(', ')}) ORDER BY idx LIMIT ?`;

function leaseStaleMs(optionsJson: string | undefined): number {
  if (!optionsJson) return DEFAULT_LEASE_STALE_MS;
  const v = (JSON.parse(optionsJson) as { leaseStaleMs?: unknown }).leaseStaleMs;
  return typeof v === 'number' ? v : DEFAULT_LEASE_STALE_MS;
}

/**
 * Reads a checkpoint's status at any time, also while a run is writing it from another process:
 * the file is opened read-only, and a WAL reader neither waits for nor blocks the writer.
 */
export function batchStatus(db: string, options: StatusOptions = {}): BatchStatus {
  const cp = Checkpoint.open(db, { readonly: true });
  try {
    return cp.db.transaction(() => {
      const now = Date.now();
      const batch = cp.batch();
      const lease = cp.lease();
      const age = lease ? Math.max(0, now - lease.heartbeatMs) : 0;
      return {
        db: cp.file,
        input: batch?.inputPath ?? null,
        loaded: batch?.loadedAtMs != null,
        ...summarize(cp),
        runner: lease ? { pid: lease.pid, host: lease.host, heartbeatAgeMs: age, live: age < leaseStaleMs(batch?.optionsJson) } : null,
        oldestRunning: cp.oldestSubmitted(options.running ?? 5).map((j) => ({
          line: j.line_no,
          customId: j.custom_id,
          responseId: j.response_id,
          apiStatus: j.api_status,
          ageMs: now - (j.submitted_at_ms ?? now),
          polls: j.poll_count,
          attempt: j.attempt,
        })),
        errors: (cp.db.prepare(ERROR_SAMPLE_SQL).all(options.errors ?? 5) as JobRow[]).map((j) => ({
          line: j.line_no,
          customId: j.custom_id,
          state: j.state,
          code: j.error_code,
          message: j.error_message,
          attempt: j.attempt,
        })),
        atMs: now,
      };
    })();
  } finally {
    cp.close();
  }
}
