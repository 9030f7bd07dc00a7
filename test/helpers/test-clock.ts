import type { Clock } from '../../src/api/throttle.ts';

/** Lets every promise that can settle now settle (timers of the real clock are not involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Virtual time for unit tests of pacing: `now()` moves only when the test calls `advance`, and
 * each sleeper wakes exactly at its time, in order. A test then asserts the very millisecond a
 * wait ends, on a loaded machine and an idle one alike, instead of a bound on wall-clock time.
 */
export class TestClock implements Clock {
  private t = 0;
  private sleepers: { at: number; wake: () => void }[] = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const s = { at: this.t + ms, wake: resolve };
      this.sleepers.push(s);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((x) => x !== s);
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
  }

  /** How many callers are asleep now. */
  get sleeping(): number {
    return this.sleepers.length;
  }

  /** Lets `ms` of virtual time pass, waking each sleeper at its time and letting it run on. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const next = this.sleepers.reduce<{ at: number; wake: () => void } | undefined>((a, s) => (a === undefined || s.at < a.at ? s : a), undefined);
      if (next === undefined || next.at > end) break;
      this.t = next.at;
      this.sleepers = this.sleepers.filter((x) => x !== next);
      next.wake();
    }
    this.t = end;
    await settle();
  }
}
