import { setTimeout as sleep } from 'node:timers/promises';
import { SailClient } from '../api/client.ts';
import { countOf } from '../human-format.ts';
import { AuthenticationError, PermissionDeniedError } from '../api/api-error.ts';
import { idempotencyKey } from '../api/idempotency-key.ts';
import { OUTPUT_RETRY_COUNTERS, type BatchMeta, type BatchStore, type StateCounts, type WorkToSend } from '../checkpoint/store.ts';
import type { SpendBudget } from '../cost/budget.ts';
import { CheckpointBusyError, FatalRunError } from '../errors.ts';
import type { RunOptions } from '../options.ts';
import { Dispatcher } from './dispatcher.ts';
import { safeEmit, type RequestCounts, type RunnerEventMap, type RunnerEvents } from './events.ts';
import { FleetBudget } from './fleet-budget.ts';
import { preflight } from './preflight.ts';
import { WebhookReceiver, parseListen, webhookToken } from './webhook-receiver.ts';

/** With webhooks on, polls come this many times less often: they only catch missed notifications. */
const WEBHOOK_POLL_SLOWDOWN = 10;

export function phase(events: RunnerEvents | undefined, p: RunnerEventMap['run:phase'][0]['phase'], message: string) {
  safeEmit(events, 'run:phase', { phase: p, message });
}

/** How often a process that found the batch being loaded by another one looks again. */
const LOAD_WAIT_MS = 250;

/**
 * A batch created but not yet loaded: another live process (a `run` of the same input on another
 * machine) is loading it, so wait for that; or its loader died, and a load that never finished
 * sent nothing, so it is started over. Returns the batch once loaded, or undefined to load it.
 */
export async function settleLoad(store: BatchStore, owner: string, staleMs: number, events: RunnerEvents): Promise<BatchMeta | undefined> {
  for (let announced = false; ; announced = true) {
    const batch = await store.batch();
    if (!batch || batch.loadedAtMs !== null) return batch;
    const loader = await store.lease();
    if (!loader || loader.owner === owner || Date.now() - loader.heartbeatMs >= staleMs) return undefined;
    if (!announced) phase(events, 'loading', `waiting for pid ${loader.pid} on ${loader.host} to finish loading the batch; then this process joins it`);
    await sleep(LOAD_WAIT_MS);
  }
}

/**
 * Renews the owner's lease (SQLite) or worker row and claims (PostgreSQL) every third of
 * `staleMs`. `onLost` hears when the lease was taken over or the store cannot be reached.
 */
export function startHeartbeat(store: BatchStore, owner: string, staleMs: number, location: string, onLost: (e: Error) => void): () => void {
  const timer = setInterval(() => {
    store.heartbeat(owner).then(
      (held) => {
        if (held) return;
        // Another process took the checkpoint over (this one was stopped past the stale time):
        // writing on would race it, so this run ends; the other carries the batch.
        clearInterval(timer);
        onLost(new CheckpointBusyError(`${location}: another run took over this checkpoint while this one was paused; this run stops and leaves the batch to it`));
      },
      (e: unknown) => onLost(e as Error),
    );
  }, Math.max(50, Math.floor(staleMs / 3)));
  timer.unref();
  return () => clearInterval(timer);
}

export type WorkOptions = Pick<
  RunOptions,
  | 'baseUrl'
  | 'apiKey'
  | 'concurrency'
  | 'maxRequestsPerSecond'
  | 'requestTimeoutMs'
  | 'syncTimeoutMs'
  | 'maxRetries'
  | 'unreachableAfterMs'
  | 'firstContactTimeoutMs'
  | 'pollIntervalMs'
  | 'maxPollIntervalMs'
  | 'jobDeadlineMs'
  | 'webhookUrl'
  | 'webhookListen'
  | 'outputRetries'
> & { random: () => number };

export interface WorkHooks {
  events: RunnerEvents;
  signal?: AbortSignal | undefined;
  leaseLost: { onLost: (e: Error) => void; lost: Error | undefined };
  /** --max-cost: what may still be spent (SQLite only). */
  spend?: SpendBudget | undefined;
  /** What is left to send, by model: the pre-flight check asks the API for these models first. */
  work: WorkToSend[];
  /** Hears a pre-flight failure (nothing was sent) before it is thrown. */
  refuse?: ((e: unknown) => Promise<never>) | undefined;
}

export interface WorkResult {
  stopped: boolean;
  counts: StateCounts;
  requests: RequestCounts;
}

/**
 * Sends and polls the batch's jobs until none is left to this process (or it is stopped),
 * including the --output-retries rounds: the part of a run that `sailbatch worker` shares. The
 * caller has joined the batch as `owner` and keeps its heartbeat; `leaseLost` is where that
 * heartbeat reports a lease taken over. With a shared budget (PostgreSQL), this worker's
 * throttle follows its share of the fleet's.
 */
export async function workBatch(
  store: BatchStore,
  o: WorkOptions,
  owner: string,
  hooks: WorkHooks,
): Promise<WorkResult> {
  const events = hooks.events;
  const stored = (await store.batch())!;
  const requests: RequestCounts = { posts: 0, gets: 0, retries: 0 };
  const client = new SailClient({
    baseUrl: o.baseUrl,
    apiKey: o.apiKey,
    concurrency: o.concurrency,
    maxRequestsPerSecond: o.maxRequestsPerSecond,
    requestTimeoutMs: o.requestTimeoutMs,
    syncTimeoutMs: o.syncTimeoutMs,
    maxRetries: o.maxRetries,
    unreachableAfterMs: o.unreachableAfterMs,
    firstContactTimeoutMs: o.firstContactTimeoutMs,
    random: o.random,
    onRequest: (r) => {
      if (r.method === 'POST') requests.posts++;
      else requests.gets++;
    },
    onRetry: (r) => {
      requests.retries++;
      safeEmit(events, 'request:retry', r);
    },
  });
  const token = o.webhookUrl ? webhookToken(o.apiKey, stored.namespace, stored.inputSha256) : undefined;
  const newDispatcher = () =>
    new Dispatcher(store, client, {
      random: o.random,
      pollIntervalMs: o.pollIntervalMs,
      maxPollIntervalMs: o.maxPollIntervalMs,
      jobDeadlineMs: o.jobDeadlineMs,
      stopGraceMs: 2_000,
      events,
      requests,
      pollSlowdown: token ? WEBHOOK_POLL_SLOWDOWN : 1,
      decorate: token
        ? (body) => ({ ...body, metadata: { ...(body['metadata'] as object), completion_webhook: o.webhookUrl!, webhook_token: token } })
        : undefined,
      budget: hooks.spend,
    });
  let dispatcher = newDispatcher();
  const budget = store.budget ? new FleetBudget(store.budget, owner, client.throttle, () => dispatcher.inFlightCount, (e) => dispatcher.fail(e)) : undefined;
  if (hooks.work.length > 0) {
    phase(events, 'loading', `checking ${o.baseUrl} and the models the requests name (GET /models)`);
    const models = new Map<string, number>();
    for (const w of hooks.work) models.set(w.model, (models.get(w.model) ?? 0) + w.jobs);
    try {
      // In a fleet even the pre-flight request counts against the batch's budget: a worker
      // joining a busy fleet waits for its share first.
      await budget?.start();
      await budget?.untilShared(hooks.signal);
      await preflight(client, o.baseUrl, models, hooks.signal);
    } catch (e) {
      await budget?.stop();
      await client.close().catch(() => {});
      if (hooks.refuse) await hooks.refuse(e);
      throw e;
    }
  }
  if (hooks.leaseLost.lost) throw hooks.leaseLost.lost;
  hooks.leaseLost.onLost = (e) => dispatcher.fail(e);
  let receiver: WebhookReceiver | undefined;
  let stopping = false;
  const onAbort = () => {
    stopping = true;
    phase(events, 'stopping', 'stopping: no new requests; finishing those in flight');
    dispatcher.stop();
  };
  try {
    await budget?.start();
    if (token) {
      receiver = new WebhookReceiver(token, (id) => dispatcher.pollSoon(id));
      const { host, port } = parseListen(o.webhookListen!);
      const at = await receiver.listen(host, port);
      phase(events, 'running', `webhook receiver listening on ${at.address}:${at.port} for ${o.webhookUrl}; polling is a slow safety net`);
    }
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    if (hooks.signal?.aborted) onAbort();

    phase(events, 'running', `running ${await store.total()} jobs against ${o.baseUrl}`);
    await store.noteSendingRun();
    let { stopped } = await dispatcher.run();
    // --output-retries: answers that failed their checks are asked again, a round at a time,
    // each under a new attempt and key. Rounds are counted in the checkpoint so that a
    // resumed run goes on where the killed one was instead of starting over.
    for (;;) {
      const round = ((await store.counters())[OUTPUT_RETRY_COUNTERS.rounds] ?? 0) + 1;
      if (stopped || stopping || hooks.spend?.reached || round > o.outputRetries || dispatcher.counts.invalid_output === 0) break;
      const n = await store.requeueInvalidOutput((j) =>
        idempotencyKey({ namespace: stored.namespace, customId: j.customId, attempt: j.attempt, bodySha256: j.bodySha256 }),
      );
      phase(events, 'running', `asking again for ${countOf(n, 'answer')} that failed the answer checks (round ${round} of ${o.outputRetries})`);
      dispatcher = newDispatcher();
      ({ stopped } = await dispatcher.run());
    }
    return { stopped, counts: { ...dispatcher.counts }, requests };
  } catch (e) {
    const cause = (e as Error).cause;
    if (e instanceof FatalRunError && (cause instanceof AuthenticationError || cause instanceof PermissionDeniedError)) await store.noteKeyRejected();
    throw e;
  } finally {
    hooks.signal?.removeEventListener('abort', onAbort);
    await budget?.stop();
    await client.close().catch(() => {});
    await receiver?.close();
  }
}
