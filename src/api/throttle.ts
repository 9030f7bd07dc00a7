import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Run-wide pacing, shared by every request of a run, so that a 429 storm slows the whole run
 * down instead of each request retrying harder:
 * - a token bucket caps requests per second (design invariant 9);
 * - a 429 pauses every new request until its Retry-After has passed;
 * - the number of requests allowed in flight is cut in half on a 429 (at most once per
 *   `cooldownMs`) and grows back by one after every `recoverAfter` successes (AIMD, as TCP does).
 * When several workers share one batch's budget, `setShare` narrows both caps to this worker's
 * share, and a 429 seen by any of them reaches the others through `onRateLimited` and
 * `fleetRateLimited`, so the fleet backs off together.
 */
export class Throttle {
  private tokens: number;
  private lastRefill = Date.now();
  private pausedUntil = 0;
  private lastCut = 0;
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
    private readonly recoverAfter = 20,
  ) {
    this.limit = maxConcurrency;
    this.share = maxConcurrency;
    this.tokens = Math.min(this.burst, maxConcurrency);
  }

  /** Requests that may be in flight now: the AIMD limit within this worker's share (0 while it has none). */
  get allowed(): number {
    return Math.min(this.limit, this.share);
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

  /** Resolves when a request may start. */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now();
      if (now < this.pausedUntil) {
        await sleep(this.pausedUntil - now, undefined, { signal });
        continue;
      }
      if (this.maxPerSecond <= 0) return;
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.maxPerSecond);
      this.lastRefill = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) / this.maxPerSecond) * 1000), undefined, { signal });
    }
  }

  rateLimited(retryAfterMs: number | undefined): void {
    this.onRateLimited?.(retryAfterMs);
    this.fleetRateLimited(retryAfterMs);
  }

  /** Another worker of the batch was answered 429: back off as if this one had been. */
  fleetRateLimited(retryAfterMs: number | undefined): void {
    const now = Date.now();
    if (retryAfterMs !== undefined) this.pausedUntil = Math.max(this.pausedUntil, now + retryAfterMs);
    if (now - this.lastCut >= this.cooldownMs) {
      this.limit = Math.max(1, Math.floor(this.allowed / 2));
      this.lastCut = now;
    }
    this.successes = 0;
  }

  succeeded(): void {
    if (this.limit >= this.maxConcurrency) return;
    if (++this.successes >= this.recoverAfter) {
      this.limit++;
      this.successes = 0;
    }
  }
}
