import { setMaxListeners } from 'node:events';
import pLimit, { type LimitFunction } from 'p-limit';
import type { SailClient } from '../api/client.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { RUN_GAUGES, type BatchStore, type JobToPoll, type JobToSend, type JobUpdate, type StateCounts, type WorkJob } from '../checkpoint/store.ts';
import { crashPoint } from './crash-points.ts';
import { safeEmit, type RequestCounts, type RunnerEvents } from './events.ts';
import { pollJob } from './poller.ts';
import { PollSchedule, jobDeadlineMs, type PollOverrides } from './poll-schedule.ts';
import { submitJob, type Deferred } from './submitter.ts';
import type { SpendBudget } from '../cost/budget.ts';

export interface DispatcherOptions extends PollOverrides {
  random: () => number;
  /** How long in-flight requests may finish after a stop before they are aborted. */
  stopGraceMs: number;
  events?: RunnerEvents | undefined;
  /** Request counts of this run, kept up to date by the client's hooks. */
  requests: RequestCounts;
  /** Poll delays are multiplied by this (webhooks make polling a slow safety net). @default 1 */
  pollSlowdown?: number;
  /** Adds to each body at send time what is not part of the stored request (webhook metadata). */
  decorate?: (body: Record<string, unknown>) => Record<string, unknown>;
  /** The spending cap (--max-cost): a pending job is sent only if its reservation fits. */
  budget?: SpendBudget | undefined;
}

const PROGRESS_EVERY_MS = 250;
/**
 * Shortest turn of the loop while most request slots are busy. Each turn writes one transaction
 * and asks the store for work; turning once per finished request made those the bulk of the
 * run's CPU. Waiting a few milliseconds gathers the requests that finish meanwhile into one turn;
 * a quarter of the slots free ends the wait at once, so the slots never starve.
 */
const MIN_TURN_MS = 5;
/** In a fleet: how often pending jobs are looked for again once none was free, and counts re-read. */
const RECLAIM_AFTER_MS = 1_000;
/** Waits before sending again a POST whose outcome was unknown; past the last, the job fails. */
const DEFER_MS = [15_000, 60_000, 240_000];

type Claimed = JobToSend | JobToPoll;

const isAbort = (e: unknown) => (e as { name?: string }).name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR';

/**
 * The engine's loop. Each turn it writes what finished since the last turn (one transaction),
 * then fills free request slots: due polls first (they collect what is already paid for), then
 * the next pending jobs in input order. Jobs are claimed from the store a page at a time (at most
 * the free slots) and only the ones in flight are held in memory.
 */
export class Dispatcher {
  /** Jobs per state, read from the store when the run starts and kept up to date since. */
  readonly counts = Object.fromEntries(Object.values(JOB_STATES).map((s) => [s, 0])) as StateCounts;
  private readonly limit: LimitFunction;
  private readonly schedule: PollSchedule;
  private readonly inFlight = new Map<number, Claimed>();
  private updates: { update: JobUpdate; row: Claimed }[] = [];
  /** Claims of requests that ended without an update (aborted at a stop): given back at the next flush. */
  private unclaimed: number[] = [];
  private flushed: RequestCounts = { posts: 0, gets: 0, retries: 0 };
  /** The throttle limit last written to the store (0: not throttled); -1 until the first flush, which overwrites what a killed run left. */
  private flushedThrottle = -1;
  /** Until when claimPending is not asked again: it came back short. */
  private exhausted = 0;
  /** Other workers drain the batch too (the store shares its budget): their progress shows only in the store. */
  private readonly shared: boolean;
  private countsReadAt = 0;
  private stopping = false;
  private fatal: unknown;
  private wakeUp: (() => void) | undefined;
  /** A wake that came while the loop was not idle: the next idle returns at once. */
  private woken = false;
  private readonly abort = new AbortController();
  private lastProgress = 0;
  private turnStartedAt = 0;
  private oddSlotToPolls = false;
  /** Pending jobs whose POST had an unknown outcome: when to send again, and how often so far. */
  private readonly deferred = new Map<number, { at: number; rounds: number; row: JobToSend }>();
  /** Response ids a webhook named that were not (or not yet) pollable: applied at the next flush. */
  private readonly notified = new Set<string>();

  constructor(
    private readonly store: BatchStore,
    private readonly client: SailClient,
    private readonly o: DispatcherOptions,
  ) {
    this.limit = pLimit(Math.max(1, client.throttle.allowed));
    // With webhooks, polls are a slow safety net whose timing says nothing about the server's pace.
    this.schedule = new PollSchedule(o, o.random, (o.pollSlowdown ?? 1) === 1);
    this.shared = store.budget !== undefined;
    // One signal is shared by every request in flight, each adding a listener.
    setMaxListeners(0, this.abort.signal);
  }

  /** Stop sending new requests; in-flight ones get `stopGraceMs` to finish (0: abort now). */
  stop(graceMs = this.o.stopGraceMs): void {
    this.stopping = true;
    if (graceMs <= 0) this.abort.abort();
    else setTimeout(() => this.abort.abort(), graceMs).unref();
    this.wake();
  }

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private pollDelay(row: WorkJob, pollCount: number): number {
    return this.schedule.delayMs(row.completionWindow, pollCount) * (this.o.pollSlowdown ?? 1);
  }

  private nextPollAt = (row: JobToPoll) => Date.now() + this.pollDelay(row, row.pollCount + 1);

  /**
   * A completion webhook named this response: poll it now instead of on its schedule. The id is
   * also remembered, because a poll in flight (or a submission not yet flushed) would otherwise
   * overwrite "now" with its own, later schedule.
   */
  pollSoon(responseId: string): void {
    this.notified.add(responseId);
    this.store.pollNow(responseId).then(
      () => this.wake(),
      (e: unknown) => this.fail(e as Error),
    );
  }

  /** Ends the run with `error` (after flushing), aborting requests in flight. */
  fail(error: Error): void {
    this.fatal ??= error;
    this.wake();
  }

  private deadlineAt = (row: JobToPoll) => row.submittedAtMs + jobDeadlineMs(row.completionWindow, this.o);

  private launch(row: Claimed): void {
    this.inFlight.set(row.idx, row);
    const signal = this.abort.signal;
    void this.limit(async () => {
      let answered = false;
      try {
        if (signal.aborted) return;
        const rounds = this.deferred.get(row.idx)?.rounds ?? 0;
        const sentAt = Date.now();
        const update =
          row.state === JOB_STATES.pending
            ? await submitJob(this.client, row, () => Date.now() + this.pollDelay(row, 0), signal, this.o.decorate, rounds < DEFER_MS.length)
            : await pollJob(this.client, row, { nextPollAt: this.nextPollAt, deadlineAt: this.deadlineAt, signal });
        if (row.state === JOB_STATES.submitted && row.pollCount === 0) {
          this.schedule.observeFirstPoll(row.completionWindow, sentAt - row.submittedAtMs, update.kind === 'finished');
        }
        answered = true;
        if (update.kind === 'deferred') this.defer(update, rounds, row as JobToSend);
        else {
          this.deferred.delete(row.idx);
          this.updates.push({ update, row });
        }
      } catch (e) {
        if (!(signal.aborted && isAbort(e))) this.fatal ??= e;
      } finally {
        // A deferred job keeps its claim (it is sent again from memory); one that got no answer gives it back.
        if (!answered) this.unclaimed.push(row.idx);
        this.inFlight.delete(row.idx);
        this.wake();
      }
    });
  }

  private defer(d: Deferred, rounds: number, row: JobToSend): void {
    const delay = DEFER_MS[rounds]!;
    this.deferred.set(d.idx, { at: Date.now() + delay, rounds: rounds + 1, row });
    safeEmit(this.o.events, 'run:warning', {
      message: `job ${d.idx}: POST outcome unknown (${d.reason}); sending it again with the same key in ${delay / 1000}s`,
    });
  }

  /** Writes queued updates, request counts and the throttle limit in one transaction, then reports them. */
  private async flush(final = false): Promise<void> {
    const updates = this.updates;
    this.updates = [];
    for (const { update: u, row } of this.notified.size > 0 ? updates : []) {
      const id = u.kind === 'polled' ? (row as JobToPoll).responseId : u.responseId;
      if (id === null || !this.notified.delete(id)) continue;
      if (u.kind !== 'finished') u.nextPollAtMs = Date.now();
    }
    const r = { ...this.o.requests };
    const delta = { posts: r.posts - this.flushed.posts, gets: r.gets - this.flushed.gets, retries: r.retries - this.flushed.retries };
    // A run that has ended holds nothing back, whatever its throttle says.
    const throttle = final ? 0 : (this.client.throttle.throttledTo ?? 0);
    const { lost } = await this.store.apply(
      updates.map((x) => x.update),
      delta,
      throttle === this.flushedThrottle ? undefined : { [RUN_GAUGES.throttleLimit]: throttle },
    );
    this.flushed = r;
    this.flushedThrottle = throttle;
    // Another worker took these jobs over: their updates were dropped, so they are not reported.
    const dropped = lost.length > 0 ? new Set(lost) : undefined;
    if (dropped) {
      safeEmit(this.o.events, 'run:warning', {
        message: `${lost.length} job${lost.length === 1 ? ' was' : 's were'} taken over by another worker while this one was paused or cut off; this worker's results for ${lost.length === 1 ? 'it' : 'them'} are dropped`,
      });
    }
    if (this.unclaimed.length > 0) {
      const idxs = this.unclaimed;
      this.unclaimed = [];
      await this.store.release(idxs);
    }
    // One pass per submission written, not per flush: how many a flush holds depends on timing.
    for (const x of updates) if (x.update.kind === 'submitted') crashPoint('checkpoint-written');
    for (const { update, row } of updates) if (!dropped?.has(update.idx)) this.report(update, row);
  }

  private report(u: JobUpdate, row: Claimed): void {
    if (u.kind === 'submitted') {
      this.counts.pending--;
      this.counts.submitted++;
      safeEmit(this.o.events, 'job:submitted', { idx: u.idx, line: row.lineNo, customId: row.customId ?? '', responseId: u.responseId, attempt: u.attempt });
    } else if (u.kind === 'finished') {
      this.o.budget?.settle(u.idx, u.tokens);
      this.counts[row.state]--;
      this.counts[u.state]++;
      safeEmit(this.o.events, 'job:finished', {
        idx: u.idx,
        line: row.lineNo,
        customId: row.customId ?? '',
        state: u.state,
        attempt: u.attempt,
        error: u.errorMessage ?? undefined,
      });
    }
  }

  private progress(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastProgress < PROGRESS_EVERY_MS) return;
    this.lastProgress = now;
    safeEmit(this.o.events, 'run:progress', {
      counts: { ...this.counts },
      total: Object.values(this.counts).reduce((a, b) => a + b, 0),
      inFlight: this.inFlight.size,
      allowed: this.client.throttle.allowed,
      // What the store says, so that the progress line and `status` never disagree.
      throttledTo: this.flushedThrottle > 0 ? this.flushedThrottle : null,
      requests: { ...this.o.requests },
    });
  }

  private async fill(): Promise<void> {
    let free = this.client.throttle.allowed - this.inFlight.size;
    this.limit.concurrency = Math.max(1, this.client.throttle.allowed);
    if (free <= 0) return;
    // While jobs wait to be sent, due polls get half the free slots (the odd one in turn): a wave
    // of first polls falling due at once (the 24h window) would otherwise stall submissions.
    let pollSlots = free;
    if (this.exhausted <= Date.now()) {
      this.oddSlotToPolls = !this.oddSlotToPolls;
      pollSlots = (free + (this.oddSlotToPolls ? 1 : 0)) >> 1;
    }
    for (const row of await this.store.claimDuePolls(Date.now(), pollSlots)) {
      this.launch(row);
      free--;
    }
    const now = Date.now();
    for (const [idx, d] of this.deferred) {
      if (free <= 0) return;
      if (d.at > now || this.inFlight.has(idx)) continue;
      this.launch(d.row);
      free--;
    }
    if (free <= 0 || this.exhausted > now) return;
    const rows = await this.store.claimPending(free);
    // Alone, a short page means no pending job is left. In a fleet, others hold claims that
    // return to the pool if their worker dies, so this worker looks again a little later.
    if (rows.length < free) this.exhausted = this.shared ? now + RECLAIM_AFTER_MS : Infinity;
    for (const [i, row] of rows.entries()) {
      if (this.o.budget && !this.o.budget.tryReserve(row)) {
        // The cap: this job and the rest of the page go back unsent; the run ends once the jobs out are done.
        this.exhausted = Infinity;
        await this.store.release(rows.slice(i).map((r) => r.idx));
        return;
      }
      this.launch(row);
    }
  }

  /**
   * Whether no job of the batch is left to send or to poll. Alone, no poll due ever again is
   * enough (a short claim page already said nothing is pending). In a fleet, jobs other workers
   * hold count too: the batch is done only when the store's counts say so.
   */
  private async drained(): Promise<boolean> {
    if (!this.shared) return (await this.store.nextPollAt()) === null;
    await this.readCounts();
    return this.counts[JOB_STATES.pending] + this.counts[JOB_STATES.submitted] === 0;
  }

  private async readCounts(): Promise<void> {
    this.countsReadAt = Date.now();
    Object.assign(this.counts, await this.store.counts());
  }

  /** Requests this worker has in flight now (its claims being worked on). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Runs until every job is terminal, or until stopped (returns with jobs left; a rerun resumes).
   * Throws the first fatal error, after writing everything that finished before it.
   */
  async run(): Promise<{ stopped: boolean }> {
    await this.readCounts();
    try {
      for (;;) {
        this.turnStartedAt = Date.now();
        await this.flush();
        if (this.shared && Date.now() - this.countsReadAt >= RECLAIM_AFTER_MS) await this.readCounts();
        this.progress();
        if (this.fatal !== undefined) {
          this.stop(0);
        } else if (!this.stopping) {
          await this.fill();
        }
        if (this.inFlight.size === 0 && (this.stopping || this.fatal !== undefined)) break;
        if (this.inFlight.size === 0 && this.exhausted > Date.now() && this.deferred.size === 0 && (await this.drained())) break;
        await this.idle();
      }
    } catch (e) {
      this.abort.abort();
      throw e;
    } finally {
      await this.flush(true);
      this.progress(true);
    }
    if (this.fatal !== undefined) throw this.fatal;
    return { stopped: this.stopping };
  }

  /**
   * Sleeps until something can happen: a request finishes (wake), or the next poll or deferred
   * POST falls due. A due time already past means every due job is in flight or no slot is free;
   * only a finishing request changes that, so it waits for the wake (at most a second).
   */
  private async idle(): Promise<void> {
    let next = this.stopping ? null : await this.store.nextPollAt();
    if (!this.woken) {
      const now = Date.now();
      for (const d of this.deferred.values()) next = next === null ? d.at : Math.min(next, d.at);
      const wait = next === null || next <= now ? 1_000 : Math.min(1_000, next - now);
      // A plain timer cleared on wake: an aborted timers/promises sleep builds an AbortError (and a
      // DOMException) on every turn of the loop.
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        timer = setTimeout(resolve, wait);
      });
      clearTimeout(timer);
      this.wakeUp = undefined;
    }
    const since = Date.now() - this.turnStartedAt;
    const free = this.client.throttle.allowed - this.inFlight.size;
    if (since < MIN_TURN_MS && free < this.client.throttle.allowed / 4 && !this.stopping && this.fatal === undefined) {
      await new Promise((resolve) => setTimeout(resolve, MIN_TURN_MS - since));
    }
    // The next turn sees every request that finished until now.
    this.woken = false;
  }
}
