import type { BatchStore, JobToPoll, JobToSend } from '../checkpoint/store.ts';

/**
 * Claimed jobs are fetched a page at a time: one query hands out many requests instead of one
 * query per request. A page is at least this many jobs (more when more slots are free).
 */
const PAGE = 128;
/**
 * Due polls are looked for at most this often, unless the last look came back full. A look reads
 * past the jobs this worker holds (they stay due in the store until their update is written), so
 * looking on every finished request would cost in proportion to the claims held.
 */
const POLL_SCAN_MS = 25;
/** In a fleet: how long after a short page of pending jobs to look again (others' claims may return). */
const RECLAIM_AFTER_MS = 1_000;

/**
 * The jobs this worker has claimed from the store and not yet started: pending jobs in input
 * order, and polls that have fallen due, soonest first. The dispatcher takes from here as
 * request slots free up; the store is asked again only when a page runs low. What is still held
 * here when the run ends goes back with `releaseAll`.
 */
export class ClaimedWork {
  private pending: JobToSend[] = [];
  private pendingHead = 0;
  private polls: JobToPoll[] = [];
  private pollsHead = 0;
  /** Until when claimPending is not asked again: its last page came back short. */
  private exhaustedUntil = 0;
  /** No look for due polls before this time (see POLL_SCAN_MS). */
  private scanAt = 0;

  constructor(
    private readonly store: BatchStore,
    /** Other workers drain the batch too: a short page does not mean that no pending job is left. */
    private readonly shared: boolean,
  ) {}

  /** Whether no pending job is left to claim now (for a while, in a fleet). */
  pendingExhausted(now: number): boolean {
    return this.pendingHead === this.pending.length && this.exhaustedUntil > now;
  }

  /** When to look for pending jobs again, in a fleet whose last page came back short (else Infinity). */
  get pendingRetryAt(): number {
    return this.pendingHead === this.pending.length && Number.isFinite(this.exhaustedUntil) ? this.exhaustedUntil : Infinity;
  }

  /** The earliest a look for due polls may come (the caller also knows the store's next due time). */
  get pollScanAt(): number {
    return this.pollsHead < this.polls.length ? 0 : this.scanAt;
  }

  /** Makes the next look for due polls come at once: a webhook made a poll due now. */
  scanSoon(): void {
    this.scanAt = 0;
  }

  /** Up to `n` claimed due polls, soonest first. */
  async takePolls(now: number, n: number): Promise<JobToPoll[]> {
    if (n <= 0) return [];
    if (this.polls.length - this.pollsHead < n && now >= this.scanAt) {
      const want = Math.max(PAGE, n);
      const page = await this.store.claimDuePolls(now, want);
      this.polls = [...this.polls.slice(this.pollsHead), ...page];
      this.pollsHead = 0;
      this.scanAt = page.length < want ? now + POLL_SCAN_MS : 0;
    }
    const out = this.polls.slice(this.pollsHead, this.pollsHead + n);
    this.pollsHead += out.length;
    return out;
  }

  /** Up to `n` claimed pending jobs, in input order. */
  async takePending(now: number, n: number): Promise<JobToSend[]> {
    if (n <= 0) return [];
    if (this.pending.length - this.pendingHead < n && this.exhaustedUntil <= now) {
      const want = Math.max(PAGE, n);
      const page = await this.store.claimPending(want);
      this.pending = [...this.pending.slice(this.pendingHead), ...page];
      this.pendingHead = 0;
      // Alone, a short page means that no pending job is left. In a fleet, others hold claims
      // that return to the pool if their worker dies, so this worker looks again a little later.
      if (page.length < want) this.exhaustedUntil = this.shared ? now + RECLAIM_AFTER_MS : Infinity;
    }
    const out = this.pending.slice(this.pendingHead, this.pendingHead + n);
    this.pendingHead += out.length;
    return out;
  }

  /** Gives back the pending jobs still held and claims no more (the spending cap is reached). */
  async stopPending(): Promise<void> {
    this.exhaustedUntil = Infinity;
    const idxs = this.pending.slice(this.pendingHead).map((j) => j.idx);
    this.pending = [];
    this.pendingHead = 0;
    if (idxs.length > 0) await this.store.release(idxs);
  }

  /** Gives back every claim not yet started. */
  async releaseAll(): Promise<void> {
    const idxs = [...this.pending.slice(this.pendingHead), ...this.polls.slice(this.pollsHead)].map((j) => j.idx);
    this.pending = [];
    this.polls = [];
    this.pendingHead = this.pollsHead = 0;
    if (idxs.length > 0) await this.store.release(idxs);
  }

  /** Claims not yet started. */
  get size(): number {
    return this.pending.length - this.pendingHead + this.polls.length - this.pollsHead;
  }
}
