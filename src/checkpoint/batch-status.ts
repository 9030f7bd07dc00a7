import { holderGone } from '../process-liveness.ts';
import type { JobState } from './job-states.ts';
import { actualCost, type ActualCost } from '../cost/actual-cost.ts';
import type { PriceTable } from '../cost/price-table.ts';
import { openStore } from './open-store.ts';
import { recordedLeaseStaleMs } from './recorded-options.ts';
import type { CheckpointSummary } from './summary.ts';
import { RUN_GAUGES } from './store.ts';

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
  /**
   * The process holding the run lease, if any. `live` is false once its heartbeat is stale, or its
   * process is gone (this machine). `throttledTo`: while it is live, the limit the server's 429s
   * hold its requests in flight to (null when they do not).
   */
  runner: { pid: number; host: string; heartbeatAgeMs: number; live: boolean; throttledTo: number | null } | null;
  /** Submitted jobs, longest out first. */
  oldestRunning: RunningJob[];
  /** The first jobs in input order that ended other than completed. */
  errors: ErroredJob[];
  /** With a price table: what every run of the batch cost so far. */
  cost?: ActualCost;
  /** When these figures were read. */
  atMs: number;
}

export interface StatusOptions {
  /** How many of the oldest running jobs to list. @default 5 */
  running?: number;
  /** How many errored jobs to list. @default 5 */
  errors?: number;
  /** A price table: the status then says what the batch cost so far, from the usage the server reported. */
  prices?: PriceTable | undefined;
  /** Which batch of a PostgreSQL database (default: its only one). */
  batch?: number | undefined;
}

/**
 * The lease staleness the run recorded; for checkpoints whose recorded options lack it, the run's
 * own default. The options schema (zod) is loaded only then, so that `status` starts fast.
 */
async function leaseStaleMs(optionsJson: string | undefined): Promise<number> {
  const recorded = recordedLeaseStaleMs(optionsJson);
  if (recorded !== undefined) return recorded;
  const { runOptionsSchema } = await import('../options.ts');
  return runOptionsSchema.shape.leaseStaleMs.parse(undefined);
}

/**
 * Reads a checkpoint's status at any time, also while a run is writing it from another process:
 * the store is opened read-only, and its snapshot neither waits for nor blocks the writer.
 */
export async function batchStatus(db: string, options: StatusOptions = {}): Promise<BatchStatus> {
  const store = await openStore(db, { readonly: true, batch: options.batch === undefined ? undefined : { id: options.batch } });
  try {
    return await store.snapshot(async (r) => {
      const now = Date.now();
      const batch = await r.batch();
      const lease = await r.lease();
      const age = lease ? Math.max(0, now - lease.heartbeatMs) : 0;
      const live = lease !== undefined && age < (await leaseStaleMs(batch?.optionsJson)) && !holderGone(lease);
      const throttled = live ? ((await r.counters())[RUN_GAUGES.throttleLimit] ?? 0) : 0;
      return {
        db: r.location,
        input: batch?.inputPath ?? null,
        loaded: batch?.loadedAtMs != null,
        ...(await r.summary()),
        runner: lease ? { pid: lease.pid, host: lease.host, heartbeatAgeMs: age, live, throttledTo: throttled > 0 ? throttled : null } : null,
        oldestRunning: (await r.oldestSubmitted(options.running ?? 5)).map((j) => ({
          line: j.lineNo,
          customId: j.customId,
          responseId: j.responseId,
          apiStatus: j.apiStatus,
          ageMs: now - (j.submittedAtMs ?? now),
          polls: j.pollCount,
          attempt: j.attempt,
        })),
        errors: (await r.firstUnsuccessful(options.errors ?? 5)).map((j) => ({
          line: j.lineNo,
          customId: j.customId,
          state: j.state,
          code: j.errorCode,
          message: j.errorMessage,
          attempt: j.attempt,
        })),
        ...(options.prices ? { cost: actualCost(await r.usageByModel(), options.prices) } : {}),
        atMs: now,
      };
    });
  } finally {
    await store.close();
  }
}
