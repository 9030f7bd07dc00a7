import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Run-wide pacing, shared by every request of a run, so that a 429 storm slows the whole run
 * down instead of each request retrying harder:
 * - a token bucket caps requests per second (design invariant 9);
 * - a 429 pauses every new request until its Retry-After has passed;
 * - the number of requests allowed in flight is cut in half on a 429 (at most once per
 *   `cooldownMs`) and grows back by one after every `recoverAfter` successes (AIMD, as TCP does).
 */
export class Throttle {
  private tokens: number;
  private lastRefill = Date.now();
  private pausedUntil = 0;
  private lastCut = 0;
  private successes = 0;
  allowed: number;

  constructor(
    private readonly maxConcurrency: number,
    private readonly maxPerSecond: number,
    private readonly cooldownMs = 1_000,
    private readonly recoverAfter = 20,
  ) {
    this.allowed = maxConcurrency;
    this.tokens = Math.min(this.burst, maxConcurrency);
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
    const now = Date.now();
    if (retryAfterMs !== undefined) this.pausedUntil = Math.max(this.pausedUntil, now + retryAfterMs);
    if (now - this.lastCut >= this.cooldownMs) {
      this.allowed = Math.max(1, Math.floor(this.allowed / 2));
      this.lastCut = now;
    }
    this.successes = 0;
  }

  succeeded(): void {
    if (this.allowed >= this.maxConcurrency) return;
    if (++this.successes >= this.recoverAfter) {
      this.allowed++;
      this.successes = 0;
    }
  }
}
