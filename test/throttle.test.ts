import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Throttle } from '../src/api/throttle.ts';
import { seededRandom } from '../src/sim/deterministic.ts';
import { TestClock } from './helpers/test-clock.ts';

/** Starts `acquire` and returns a probe of the virtual time at which it resolved (undefined while waiting). */
function acquiring(t: Throttle, clock: TestClock, signal?: AbortSignal): { at: () => number | undefined; done: Promise<void> } {
  let at: number | undefined;
  const done = t.acquire(signal).then(() => {
    at = clock.now();
  });
  return { at: () => at, done };
}

describe('concurrency (AIMD)', () => {
  test('a 429 cuts the allowed concurrency to 70%, once per cooldown', async () => {
    const clock = new TestClock();
    const t = new Throttle(16, 0, 1_000, clock);
    assert.equal(t.allowed, 16);
    t.rateLimited(undefined);
    assert.equal(t.allowed, 11);
    // A burst of 429s answering requests sent before the first cut must not cut again.
    await clock.advance(999);
    t.rateLimited(undefined);
    t.rateLimited(100);
    assert.equal(t.allowed, 11);
    await clock.advance(1);
    t.rateLimited(undefined);
    assert.equal(t.allowed, 7);
  });

  test('never drops below one', () => {
    const t = new Throttle(5, 0, 0);
    const seen = [];
    for (let i = 0; i < 6; i++) {
      t.rateLimited(undefined);
      seen.push(t.allowed);
    }
    assert.deepEqual(seen, [3, 2, 1, 1, 1, 1]);
  });

  test('successes grow it back by one per window of as many successes as the limit, up to the maximum', () => {
    const t = new Throttle(16, 0, 0);
    while (t.allowed > 1) t.rateLimited(undefined);
    const grownAt: number[] = [];
    for (let n = 1; t.allowed < 16; n++) {
      const before = t.allowed;
      t.succeeded();
      if (t.allowed > before) grownAt.push(n);
    }
    // One step after 1 success, the next after 2 more, then 3 more...: back to 16 after 1 + 2 + ... + 15.
    assert.deepEqual(grownAt.slice(0, 4), [1, 3, 6, 10]);
    assert.equal(grownAt.at(-1), 120);
    for (let i = 0; i < 50; i++) t.succeeded();
    assert.equal(t.allowed, 16);
  });

  test('a 429 inside the cooldown restarts nothing: the window of successes goes on', async () => {
    const clock = new TestClock();
    const t = new Throttle(8, 0, 1_000, clock);
    t.rateLimited(undefined);
    assert.equal(t.allowed, 5);
    for (let i = 0; i < 4; i++) t.succeeded();
    await clock.advance(10);
    t.rateLimited(undefined);
    assert.equal(t.allowed, 5, 'no second cut within the cooldown');
    t.succeeded();
    assert.equal(t.allowed, 6, 'the fifth success of the window grows the limit');
  });

  test('a steady 5% of 429s keeps most of the concurrency, for good', async () => {
    // Round trips of 100 ms: every request allowed in flight gets an answer, one in twenty a 429,
    // and a cooldown holds ten rounds. (The old rule, 20 successes counted again after every 429,
    // sat at 1 or 2 here.)
    const clock = new TestClock();
    const t = new Throttle(32, 0, 1_000, clock);
    const random = seededRandom(5);
    let sum = 0;
    let rounds = 0;
    for (let round = 0; round < 600; round++) {
      for (let i = t.allowed; i > 0; i--) {
        if (random() < 0.05) t.rateLimited(undefined);
        else t.succeeded();
      }
      await clock.advance(100);
      if (round >= 200) {
        sum += t.allowed;
        rounds++;
      }
    }
    const mean = sum / rounds;
    assert.ok(mean >= 20, `mean limit ${mean.toFixed(1)} of 32 under 5% of 429s`);
  });

  test('throttledTo names the limit while 429s hold it below what this worker may have', () => {
    const t = new Throttle(16, 0, 0);
    assert.equal(t.throttledTo, null);
    t.rateLimited(undefined);
    assert.equal(t.throttledTo, 11);
    t.setShare(4, 0);
    assert.equal(t.throttledTo, null, "a fleet share below the limit is the fleet's doing, not the 429s'");
    t.rateLimited(undefined);
    assert.equal(t.throttledTo, 2);
  });
});

describe('acquire', () => {
  test('resolves at once with no cap and no pause', async () => {
    const clock = new TestClock();
    const t = new Throttle(4, 0, 1_000, clock);
    for (let i = 0; i < 100; i++) await t.acquire();
    assert.equal(clock.now(), 0);
    assert.equal(clock.sleeping, 0);
  });

  test('waits out a Retry-After pause, for every caller', async () => {
    const clock = new TestClock();
    const t = new Throttle(4, 0, 1_000, clock);
    t.rateLimited(120);
    const a = acquiring(t, clock);
    const b = acquiring(t, clock);
    await clock.advance(119);
    assert.deepEqual([a.at(), b.at()], [undefined, undefined]);
    await clock.advance(1);
    assert.deepEqual([a.at(), b.at()], [120, 120]);
    const c = acquiring(t, clock);
    await clock.advance(0);
    assert.equal(c.at(), 120, 'the pause is over');
  });

  test('a longer pause is not shortened by a later, shorter hint', async () => {
    const clock = new TestClock();
    const t = new Throttle(4, 0, 0, clock);
    t.rateLimited(150);
    t.rateLimited(10);
    const a = acquiring(t, clock);
    await clock.advance(149);
    assert.equal(a.at(), undefined);
    await clock.advance(1);
    assert.equal(a.at(), 150);
  });

  test('an abort ends the wait', async () => {
    const clock = new TestClock();
    const t = new Throttle(4, 0, 1_000, clock);
    t.rateLimited(10_000);
    const ac = new AbortController();
    const a = acquiring(t, clock, ac.signal);
    await clock.advance(20);
    ac.abort();
    await assert.rejects(a.done, { name: 'AbortError' });
    assert.equal(clock.now(), 20, 'well before the 10 s pause ends');
  });

  test('the requests-per-second cap paces acquire', async () => {
    // Burst of one (the concurrency), then one token every 25 ms.
    const clock = new TestClock();
    const t = new Throttle(1, 40, 1_000, clock);
    const at: number[] = [];
    const all = (async () => {
      for (let i = 0; i < 9; i++) {
        await t.acquire();
        at.push(clock.now());
      }
    })();
    await clock.advance(1_000);
    await all;
    assert.deepEqual(at, [0, 25, 50, 75, 100, 125, 150, 175, 200]);
  });

  test('the first burst is as large as the concurrency allows', async () => {
    const clock = new TestClock();
    const t = new Throttle(5, 10, 1_000, clock);
    for (let i = 0; i < 5; i++) await t.acquire();
    assert.equal(clock.now(), 0);
    const sixth = acquiring(t, clock);
    await clock.advance(99);
    assert.equal(sixth.at(), undefined);
    await clock.advance(1);
    assert.equal(sixth.at(), 100);
  });

  test('a cap below one request per second still lets requests through', async () => {
    const clock = new TestClock();
    const t = new Throttle(4, 0.8, 1_000, clock);
    await t.acquire();
    assert.equal(clock.now(), 0, 'the first request goes at once');
    const second = acquiring(t, clock);
    await clock.advance(5_000);
    assert.equal(second.at(), 1_250);
  });
});
