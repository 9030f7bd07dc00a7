import { setTimeout as sleep } from 'node:timers/promises';

/** Time as the throttle sees it: the real clock, or a test's, which runs no faster than its callers. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What a cut leaves of the limit. */
const CUT = 0.7;

const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }),
};

/**
 * Run-wide pacing, shared by every request of a run, so that a 429 storm slows the whole run
 * down instead of each request retrying harder:
 * - a token bucket caps requests per second (design invariant 9);
 * - a 429 pauses every new request until its Retry-After has passed;
 * - the number of requests allowed in flight is cut to 70% on a 429 (at most once per
 *   `cooldownMs`: the 429s that answer requests sent before a cut say nothing about the new
 *   limit) and grows by one per window of successes as large as the limit (additive increase,
 *   one step per round trip, as TCP's congestion window does).
 *
 * Why the window is the limit and not a fixed count: with a fixed 20 successes per step, counted
 * again from zero after every 429, a server that answers a steady 5% of requests with 429 (one
 * in 20) held the limit at 1 for good, and a run took ten times as long. A window of `limit`
 * successes grows the limit by one per round of requests whatever it is, so it climbs back at
 * once from a low limit and slowly near the top, and a cut restarts only the window, not the count.
 * Why 70% and not half (CUBIC's factor, RFC 8312): a 429 says "a little too fast", and the
 * Retry-After pause already answers it; with 100 ms round trips and 5% of 429s, halving held
 * about 15 of 32 requests in flight on average, 70% about 25, while an in-flight cap of the
 * server's is still found within a few cuts.
 *
 * When several workers share one batch's budget, `setShare` narrows both caps to this worker's
 * share, and a 429 seen by any of them reaches the others through `onRateLimited` and
 * `fleetRateLimited`, so the fleet backs off together.
 */
export class Throttle {
  private tokens: number;
  private lastRefill: number;
  private pausedUntil = 0;
  private lastCut = -Infinity;
  /** Successes since the limit last changed. */
  private successes = 0;
  /** The AIMD limit, at most maxConcurrency. */
  private limit: number;
  /** This worker's share of the fleet's concurrency (all of it when it works alone). */
  private share: number;
  /** Called when a 429 reached this process, so that the other workers of the batch hear of it. */
  onRateLimited: ((retryAfterMs: number | undefined) => void) | undefined;

  constructor(
    private readonly maxConcurrency: number,
    private maxPerSecond: number,
    private readonly cooldownMs = 1_000,
    private readonly clock: Clock = REAL_CLOCK,
  ) {
    this.limit = maxConcurrency;
    this.share = maxConcurrency;
    this.tokens = Math.min(this.burst, maxConcurrency);
    this.lastRefill = clock.now();
  }

  /** Requests that may be in flight now: the AIMD limit within this worker's share (0 while it has none). */
  get allowed(): number {
    return Math.min(this.limit, this.share);
  }

  /** The limit 429s hold this worker to, when they hold it below what it may have in flight; else null. */
  get throttledTo(): number | null {
    return this.limit < Math.min(this.maxConcurrency, this.share) ? this.limit : null;
  }

  /** This worker's share of the fleet's budget: requests in flight, and requests per second (0: no cap). */
  setShare(concurrency: number, perSecond: number): void {
    this.share = concurrency;
    this.maxPerSecond = perSecond;
    this.tokens = Math.min(this.tokens, this.burst);
  }

  /** Bucket size. At least one token, or a cap below 1/s would never let a request through. */
  private get burst(): number {
    return Math.max(1, this.maxPerSecond);
  }

  /**
   * Takes the go-ahead for a request if it may start now; otherwise 0 when paused, or how long
   * until the bucket holds a token. Synchronous, so that a request nothing holds back awaits nothing.
   */
  private take(): number {
    const now = this.clock.now();
    if (now < this.pausedUntil) return this.pausedUntil - now;
    if (this.maxPerSecond <= 0) return 0;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.maxPerSecond);
    this.lastRefill = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.maxPerSecond) * 1000);
  }

  /** True when a request may start now (and it is counted as started); else call `acquire`. */
  tryAcquire(): boolean {
    return this.take() === 0;
  }

  /** Resolves when a request may start. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (let wait = this.take(); wait > 0; wait = this.take()) await this.clock.sleep(wait, signal);
  }

  rateLimited(retryAfterMs: number | undefined): void {
    this.onRateLimited?.(retryAfterMs);
    this.fleetRateLimited(retryAfterMs);
  }

  /** Another worker of the batch was answered 429: back off as if this one had been. */
  fleetRateLimited(retryAfterMs: number | undefined): void {
    const now = this.clock.now();
    if (retryAfterMs !== undefined) this.pausedUntil = Math.max(this.pausedUntil, now + retryAfterMs);
    if (now - this.lastCut >= this.cooldownMs) {
      this.limit = Math.max(1, Math.floor(this.allowed * CUT));
      this.lastCut = now;
      this.successes = 0;
    }
  }

  succeeded(): void {
    if (this.limit >= this.maxConcurrency) return;
    if (++this.successes >= this.limit) {
      this.limit++;
      this.successes = 0;
    }
  }
}
