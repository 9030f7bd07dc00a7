import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { keyFingerprint } from '../api/idempotency-key.ts';
import { openStore } from '../checkpoint/open-store.ts';
import type { StateCounts } from '../checkpoint/store.ts';
import { CheckpointError, EXIT, UsageError } from '../errors.ts';
import { runOptionsSchema, workerOptionsSchema, type WorkerOptionsInput } from '../options.ts';
import { describeOptionIssue } from '../parse-options.ts';
import type { RequestCounts, RunnerEventMap, RunnerEvents } from './events.ts';
import { phase, settleLoad, startHeartbeat, workBatch } from './work-batch.ts';

export interface WorkerSummary {
  /** 0: the batch is done and every job completed; 1: done, some ended otherwise. */
  exitCode: 0 | 1;
  /** True when this worker was stopped (signal) before the batch was done. */
  stopped: boolean;
  batch: number;
  /** The batch's counts (all workers'), when this worker ended. */
  counts: StateCounts;
  total: number;
  /** The database, without its password. */
  db: string;
  wallMs: number;
  /** Requests this worker sent. */
  requests: RequestCounts;
}

/**
 * Joins a batch of a PostgreSQL database as one more worker and works until the batch is done
 * (or until stopped): no input file, the bodies are in the store; requests, windows and the
 * fleet's budget are the batch's. Writes no results file: the `run` waiting for the end does,
 * and `export` can at any time.
 */
export async function runWorker(input: WorkerOptionsInput, hooks: { events?: RunnerEvents; signal?: AbortSignal } = {}): Promise<WorkerSummary> {
  const started = Date.now();
  const parsed = workerOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`option ${issue.path.join('.')}: ${issue.message}`);
  }
  const w = parsed.data;
  const events = hooks.events ?? new EventEmitter<RunnerEventMap>();
  const store = await openStore(w.db, { batch: { id: w.batch } });
  const owner = randomUUID();
  let stopHeartbeat = () => {};
  try {
    const batch = (await store.batch())!;
    if (keyFingerprint(w.apiKey, batch.keySalt) !== batch.keyFingerprint) {
      throw new CheckpointError(
        `batch ${w.batch} in ${store.location} was started with a different API key. Sail scopes idempotency keys per API key, ` +
          'so working it under this one would pay again for every line already sent; give this worker the batch\'s key.',
      );
    }
    // Recorded by the run that created the batch, parsed through the same schema (with its defaults for what it lacks).
    const { apiKey: _k, random: _r, ...recorded } = JSON.parse(batch.optionsJson) as Record<string, unknown>;
    const input = {
      ...recorded,
      apiKey: w.apiKey,
      baseUrl: w.baseUrl ?? batch.baseUrl,
      ...(w.leaseStaleMs === undefined ? {} : { leaseStaleMs: w.leaseStaleMs }),
    };
    const options = runOptionsSchema.safeParse(input);
    if (!options.success) {
      // Only another sailbatch (older or newer) records options this one reads otherwise.
      throw new CheckpointError(
        `batch ${w.batch} in ${store.location} records options this sailbatch does not accept: ${describeOptionIssue(options.error.issues[0]!, input, (k) => k)}; ` +
          'run the worker with the sailbatch version that started the batch',
      );
    }
    const o = options.data;
    await store.acquireLease(owner, o.leaseStaleMs);
    const leaseLost: { onLost: (e: Error) => void; lost: Error | undefined } = {
      lost: undefined,
      onLost: (e) => {
        leaseLost.lost = e;
      },
    };
    stopHeartbeat = startHeartbeat(store, owner, o.leaseStaleMs, store.location, (e) => leaseLost.onLost(e));
    if (!(await settleLoad(store, owner, o.leaseStaleMs, events))) {
      throw new CheckpointError(
        `${store.location}: batch ${w.batch} was never fully loaded (its \`run\` stopped while reading the input); rerun \`sailbatch run\` with that input and this --db`,
      );
    }
    const work = await store.workToSend();
    const { stopped, requests } = await workBatch(store, { ...o, random: w.random ?? Math.random }, owner, { events, signal: hooks.signal, leaseLost, work });
    phase(events, 'done', stopped ? 'stopped' : 'done');
    const counts = await store.counts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return {
      exitCode: counts.completed === total ? EXIT.ok : EXIT.someJobsFailed,
      stopped,
      batch: w.batch,
      counts,
      total,
      db: store.location,
      wallMs: Date.now() - started,
      requests,
    };
  } finally {
    stopHeartbeat();
    await store.releaseLease(owner);
    await store.close();
  }
}
