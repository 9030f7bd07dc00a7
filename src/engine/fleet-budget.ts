import { setTimeout as sleep } from 'node:timers/promises';
import type { Throttle } from '../api/throttle.ts';
import type { BudgetShare, SharedBudget } from '../checkpoint/store.ts';

/** How often a worker renews its share: how fast a joining worker gets room and a 429 spreads. */
const RENEW_EVERY_MS = 500;
/** A storm of 429s is one wave for the fleet: this worker passes on at most one per this long. */
const PASS_ON_EVERY_MS = 1_000;

/**
 * Keeps this worker's throttle within its share of the batch's budget (see SharedBudget), and
 * carries 429s both ways: one seen here pauses the fleet through the store, one seen by another
 * worker (a rise of `rateLimits`) backs this one off too.
 */
export class FleetBudget {
  private timer: NodeJS.Timeout | undefined;
  private seenRateLimits: number | undefined;
  private passedOnAt = 0;
  /** 429 waves this worker passed on that its renewals have not seen come back yet. */
  private ownWaves = 0;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly budget: SharedBudget,
    private readonly owner: string,
    private readonly throttle: Throttle,
    private readonly inFlight: () => number,
    private readonly onError: (e: Error) => void,
  ) {}

  /** Takes the first share before any request is sent, then renews it in the background (once, however often called). */
  async start(): Promise<void> {
    if (this.timer) return;
    this.throttle.onRateLimited = (retryAfterMs) => this.passOn(retryAfterMs);
    await this.renew();
    this.timer = setInterval(() => {
      this.renewing ??= this.renew()
        .catch((e: unknown) => this.onError(e as Error))
        .finally(() => (this.renewing = undefined));
    }, RENEW_EVERY_MS);
    this.timer.unref();
  }

  /** Resolves once this worker has a share (one joining a busy fleet has none until others' requests drain), or at `signal`. */
  async untilShared(signal?: AbortSignal): Promise<void> {
    while (this.throttle.allowed === 0 && !signal?.aborted) await sleep(RENEW_EVERY_MS, undefined, { signal }).catch(() => {});
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.throttle.onRateLimited = undefined;
    await this.renewing;
  }

  private async renew(): Promise<void> {
    // While the renewal runs this worker may still fill its current allowance: counting only what
    // it had out when the renewal began let a joining worker take slots the old share then used.
    this.apply(await this.budget.renew(this.owner, Math.max(this.inFlight(), this.throttle.allowed)));
  }

  private apply(share: BudgetShare): void {
    this.throttle.setShare(share.concurrency, share.maxPerSecond);
    const now = Date.now();
    const rise = share.rateLimits - (this.seenRateLimits ?? share.rateLimits);
    const own = Math.min(rise, this.ownWaves);
    this.ownWaves -= own;
    const joinedDuringPause = this.seenRateLimits === undefined && share.pausedUntilMs > now;
    if (rise - own > 0 || joinedDuringPause) this.throttle.fleetRateLimited(share.pausedUntilMs > now ? share.pausedUntilMs - now : undefined);
    this.seenRateLimits = share.rateLimits;
  }

  private passOn(retryAfterMs: number | undefined): void {
    const now = Date.now();
    if (now - this.passedOnAt < PASS_ON_EVERY_MS) return;
    this.passedOnAt = now;
    this.ownWaves++;
    this.budget.rateLimited(now + (retryAfterMs ?? 1_000)).catch((e: unknown) => this.onError(e as Error));
  }
}
