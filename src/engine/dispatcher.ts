import { setMaxListeners } from 'node:events';
import type { SailClient } from '../api/client.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { RUN_GAUGES, isScheduleUpdate, type BatchStore, type JobToPoll, type JobToSend, type JobUpdate, type StateCounts, type WorkJob } from '../checkpoint/store.ts';
import { ClaimedWork } from './claimed-work.ts';
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
 * Updates are written in transactions of up to this many jobs, or of this many bytes of results,
 * or every FLUSH_MS, whichever comes first (and at once when no request is out). A commit costs
 * about as much as writing a few dozen rows, so one per finished request, or even one per few
 * milliseconds, made the checkpoint the bulk of the run's CPU. The checkpoint lags the network by
 * at most one flush; a job whose update a crash lost is sent again with its idempotency key and
 * answered from the server's store, unpaid (design invariant 3).
 */
const FLUSH_ROWS = 256;
const FLUSH_BYTES = 8 * 1024 * 1024;
const FLUSH_MS = 100;
/** With nothing else to wait for, the loop still looks around this often (fleet counts, a store changed by others). */
const MAX_IDLE_MS = 1_000;
/** In a fleet: how often counts are re-read from the store. */
const COUNTS_EVERY_MS = 1_000;
/** Waits before sending again a POST whose outcome was unknown; past the last, the job fails. */
const DEFER_MS = [15_000, 60_000, 240_000];

type Claimed = JobToSend | JobToPoll;

const isAbort = (e: unknown) => (e as { name?: string }).name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR';

/**
 * The engine's loop. Request slots are filled as soon as they free up: due polls first (they
 * collect what is already paid for), then pending jobs in input order, both taken from pages of
 * jobs claimed from the store ahead (ClaimedWork), so that starting a request costs no query.
 * What finished is written back in transactions of many jobs (see FLUSH_ROWS), then reported.
 * Only the jobs in flight, claimed ahead or waiting to be written are held in memory.
 */
export class Dispatcher {
  /** Jobs per state, read from the store when the run starts and kept up to date since. */
  readonly counts = Object.fromEntries(Object.values(JOB_STATES).map((s) => [s, 0])) as StateCounts;
  private readonly schedule: PollSchedule;
  private readonly work: ClaimedWork;
  private readonly inFlight = new Map<number, Claimed>();
  private updates: { update: JobUpdate; row: Claimed }[] = [];
  /** Bytes of results in `updates`. */
  private updateBytes = 0;
  /** Claims of requests that ended without an update (aborted at a stop): given back at the next flush. */
  private unclaimed: number[] = [];
  private flushed: RequestCounts = { posts: 0, gets: 0, retries: 0 };
  private lastFlushAt = 0;
  /** When the oldest update not yet written came. */
  private firstUpdateAt = 0;
  /** The soonest poll an update not yet written schedules: it is written by then, or the poll would wait for it. */
  private updatesDueAt = Infinity;
  /** The throttle limit last written to the store (0: not throttled); -1 until the first flush, which overwrites what a killed run left. */
  private flushedThrottle = -1;
  /** Other workers drain the batch too (the store shares its budget): their progress shows only in the store. */
  private readonly shared: boolean;
  private countsReadAt = 0;
  /** When the soonest poll in the store falls due, as last read (claimed jobs included, so it may be past). */
  private storeDueAt: number | null = null;
  private storeDueStale = true;
  private stopping = false;
  private fatal: unknown;
  private wakeUp: (() => void) | undefined;
  /** A wake that came while the loop was not idle: the next idle returns at once. */
  private woken = false;
  /** One timer for the loop, re-armed only for an earlier time: not a timer per turn. */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly abort = new AbortController();
  private lastProgress = 0;
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
    // With webhooks, polls are a slow safety net whose timing says nothing about the server's pace.
    this.schedule = new PollSchedule(o, o.random, (o.pollSlowdown ?? 1) === 1);
    this.shared = store.budget !== undefined;
    this.work = new ClaimedWork(store, this.shared);
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
      () => {
        this.work.scanSoon();
        this.storeDueStale = true;
        this.wake();
      },
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
    void this.send(row);
  }

  private async send(row: Claimed): Promise<void> {
    const signal = this.abort.signal;
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
        this.queue(update, row);
      }
    } catch (e) {
      if (!(signal.aborted && isAbort(e))) this.fatal ??= e;
    } finally {
      // A deferred job keeps its claim (it is sent again from memory); one that got no answer gives it back.
      if (!answered) this.unclaimed.push(row.idx);
      this.inFlight.delete(row.idx);
      this.wake();
    }
  }

  /** Holds an update for the next flush. */
  private queue(update: JobUpdate, row: Claimed): void {
    if (this.updates.length === 0) this.firstUpdateAt = Date.now();
    this.updates.push({ update, row });
    if (update.kind !== 'finished') this.updatesDueAt = Math.min(this.updatesDueAt, update.nextPollAtMs);
    else {
      this.updateBytes += update.result?.length ?? 0;
      // Settled now, not when written: the answer is what was spent, and a reservation held
      // until the next flush would keep the cap from jobs that fit.
      this.o.budget?.settle(update.idx, update.tokens);
    }
  }

  private defer(d: Deferred, rounds: number, row: JobToSend): void {
    const delay = DEFER_MS[rounds]!;
    this.deferred.set(d.idx, { at: Date.now() + delay, rounds: rounds + 1, row });
    safeEmit(this.o.events, 'run:warning', {
      message: `job ${d.idx}: POST outcome unknown (${d.reason}); sending it again with the same key in ${delay / 1000}s`,
    });
  }

  /** What the next flush would write besides updates: request counts, the throttle gauge, claims to give back. */
  private get sideChanges(): boolean {
    const r = this.o.requests;
    return (
      this.unclaimed.length > 0 ||
      r.posts !== this.flushed.posts ||
      r.gets !== this.flushed.gets ||
      r.retries !== this.flushed.retries ||
      (this.client.throttle.throttledTo ?? 0) !== this.flushedThrottle
    );
  }

  /** When the next flush is due (Infinity: nothing to write). An update waits at most FLUSH_MS. */
  private flushAt(): number {
    if (this.updates.length === 0 && !this.sideChanges) return Infinity;
    if (this.updates.length >= FLUSH_ROWS || this.updateBytes >= FLUSH_BYTES) return 0;
    if (this.inFlight.size === 0 || this.stopping || this.fatal !== undefined) return 0;
    return Math.min(this.updatesDueAt, (this.updates.length > 0 ? this.firstUpdateAt : this.lastFlushAt) + FLUSH_MS);
  }

  /** Writes queued updates, request counts and the throttle limit in one transaction, then reports them. */
  private async flush(final = false): Promise<void> {
    const updates = this.updates;
    this.updates = [];
    this.updateBytes = 0;
    this.updatesDueAt = Infinity;
    this.lastFlushAt = Date.now();
    for (const { update: u, row } of this.notified.size > 0 ? updates : []) {
      const id = isScheduleUpdate(u) ? (row as JobToPoll).responseId : u.responseId;
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
    if (updates.length > 0) this.storeDueStale = true;
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

  private get free(): number {
    return this.client.throttle.allowed - this.inFlight.size;
  }

  private async fill(): Promise<void> {
    let free = this.free;
    if (free <= 0) return;
    const now = Date.now();
    // While jobs wait to be sent, due polls get half the free slots (the odd one in turn): a wave
    // of first polls falling due at once (the 24h window) would otherwise stall submissions.
    let pollSlots = free;
    if (!this.work.pendingExhausted(now)) {
      this.oddSlotToPolls = !this.oddSlotToPolls;
      pollSlots = (free + (this.oddSlotToPolls ? 1 : 0)) >> 1;
    }
    for (const row of await this.work.takePolls(now, pollSlots)) {
      const later = row.pollCount === 0 ? this.schedule.postponedFirstPoll(row.completionWindow, row.submittedAtMs, now) : null;
      if (later === null) {
        this.launch(row);
        free--;
      } else this.queue({ kind: 'postponed', idx: row.idx, attempt: row.attempt, nextPollAtMs: later }, row);
    }
    for (const [idx, d] of this.deferred) {
      if (free <= 0) return;
      if (d.at > now || this.inFlight.has(idx)) continue;
      this.launch(d.row);
      free--;
    }
    const rows = await this.work.takePending(now, free);
    for (const [i, row] of rows.entries()) {
      if (this.o.budget && !this.o.budget.tryReserve(row)) {
        // The cap: this job and the rest go back unsent; the run ends once the jobs out are done.
        await this.store.release(rows.slice(i).map((r) => r.idx));
        await this.work.stopPending();
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
    if (!this.shared) return (await this.dueAt()) === null;
    await this.readCounts();
    return this.counts[JOB_STATES.pending] + this.counts[JOB_STATES.submitted] === 0;
  }

  /** The store's soonest poll, read again only after this worker wrote (or, in a fleet, now and then). */
  private async dueAt(): Promise<number | null> {
    if (this.storeDueStale || this.shared) {
      this.storeDueAt = await this.store.nextPollAt();
      this.storeDueStale = false;
    }
    return this.storeDueAt;
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
        this.woken = false;
        if (this.flushAt() <= Date.now()) await this.flush();
        if (this.shared && Date.now() - this.countsReadAt >= COUNTS_EVERY_MS) await this.readCounts();
        this.progress();
        if (this.fatal !== undefined) {
          this.stop(0);
        } else if (!this.stopping) {
          await this.fill();
        }
        if (this.inFlight.size === 0 && (this.stopping || this.fatal !== undefined)) break;
        if (
          this.inFlight.size === 0 &&
          this.updates.length === 0 &&
          this.work.size === 0 &&
          this.work.pendingExhausted(Date.now()) &&
          this.deferred.size === 0 &&
          (await this.drained())
        ) {
          break;
        }
        await this.idle();
      }
    } catch (e) {
      this.abort.abort();
      throw e;
    } finally {
      clearTimeout(this.timer);
      await this.work.releaseAll();
      await this.flush(true);
      this.progress(true);
    }
    if (this.fatal !== undefined) throw this.fatal;
    return { stopped: this.stopping };
  }

  /**
   * Sleeps until something can happen: a request finishes or a webhook names a job (wake), the
   * next flush is due, a poll or a deferred POST falls due, or (in a fleet) pending jobs may have
   * come back. A due time already past means every due job is in flight or no slot is free; only
   * a finishing request changes that, so it waits for the wake.
   */
  private async idle(): Promise<void> {
    if (this.woken) return;
    const now = Date.now();
    let at = Math.min(now + MAX_IDLE_MS, this.flushAt());
    for (const d of this.deferred.values()) at = Math.min(at, d.at);
    if (!this.stopping && this.free > 0) {
      at = Math.min(at, this.work.pendingRetryAt);
      const due = await this.dueAt();
      if (due !== null) at = Math.min(at, Math.max(due, this.work.pollScanAt, now + 1));
    }
    if (this.woken) return;
    if (at < this.timerAt) {
      clearTimeout(this.timer);
      this.timerAt = at;
      this.timer = setTimeout(() => {
        this.timerAt = Infinity;
        this.wake();
      }, Math.max(0, at - now));
    }
    await new Promise<void>((resolve) => {
      this.wakeUp = resolve;
    });
    this.wakeUp = undefined;
  }
}
