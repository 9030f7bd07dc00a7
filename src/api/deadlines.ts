/** One request's timeout: `expire` runs once when it passes, unless `done` was set first. */
export interface Deadline {
  readonly at: number;
  done: boolean;
  readonly expire: () => void;
}

interface Queue {
  items: Deadline[];
  head: number;
}

/**
 * The timeouts of every request of a run, on one timer. A timer (and an AbortController to act
 * on it) per request was a tenth of the client's CPU. Requests with the same timeout fall due in
 * the order they started, so each timeout length keeps a first-in first-out queue and the timer
 * is armed for the earliest head. A request that ends is only marked `done` and is dropped when
 * it reaches the head, so starting and ending a request touch no timer at all; expiry is still
 * on time to the millisecond, not rounded to a sweep period.
 */
export class Deadlines {
  private readonly queues = new Map<number, Queue>();
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Infinity;

  add(timeoutMs: number, expire: () => void, now = Date.now()): Deadline {
    const d: Deadline = { at: now + timeoutMs, done: false, expire };
    let q = this.queues.get(timeoutMs);
    if (!q) this.queues.set(timeoutMs, (q = { items: [], head: 0 }));
    this.dropDone(q);
    q.items.push(d);
    if (d.at < this.armedAt) this.arm(d.at);
    return d;
  }

  /** Stops the timer; deadlines not yet passed never expire. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
    this.queues.clear();
  }

  private dropDone(q: Queue): void {
    while (q.head < q.items.length && q.items[q.head]!.done) q.head++;
    if (q.head === q.items.length) {
      q.items = [];
      q.head = 0;
    } else if (q.head > 1024 && q.head * 2 > q.items.length) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.armedAt = at;
    this.timer = setTimeout(this.sweep, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private readonly sweep = (): void => {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const q of this.queues.values()) {
      for (;;) {
        this.dropDone(q);
        const d = q.items[q.head];
        if (!d) break;
        if (d.at > now) {
          next = Math.min(next, d.at);
          break;
        }
        d.done = true;
        q.head++;
        d.expire();
      }
    }
    if (next < Infinity && next < this.armedAt) this.arm(next);
  };
}
