/**
 * Throughput over a sliding window, and the time left at that pace. A window rather than the
 * average since start: a resumed run starts with many jobs already done, and the pace of a long
 * run changes (rate limits, the slow tail of a completion window).
 */
export class RateMeter {
  private samples: { t: number; v: number }[] = [];

  constructor(private readonly windowMs = 30_000) {}

  add(value: number, now = Date.now()): void {
    this.samples.push({ t: now, v: value });
    // Keep one sample older than the window so that the rate always spans the whole window.
    while (this.samples.length > 2 && this.samples[1]!.t <= now - this.windowMs) this.samples.shift();
  }

  /** Units per second, or undefined until the samples span half a second (too noisy before). */
  perSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t - first.t < 500) return undefined;
    return ((last.v - first.v) * 1_000) / (last.t - first.t);
  }

  /** Milliseconds until `remaining` more units at the current pace; undefined while the pace is unknown or zero. */
  etaMs(remaining: number): number | undefined {
    const r = this.perSecond();
    return r === undefined || r <= 0 ? undefined : (remaining / r) * 1_000;
  }
}
