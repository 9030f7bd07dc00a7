import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Throttle } from '../src/api/throttle.ts';

const elapsed = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

describe('concurrency (AIMD)', () => {
  test('a 429 halves the allowed concurrency, once per cooldown', () => {
    const t = new Throttle(16, 0, 60_000);
    assert.equal(t.allowed, 16);
    t.rateLimited(undefined);
    assert.equal(t.allowed, 8);
    // A burst of 429s answering requests sent before the first cut must not cut again.
    t.rateLimited(undefined);
    t.rateLimited(100);
    assert.equal(t.allowed, 8);
  });

  test('never drops below one', () => {
    const t = new Throttle(5, 0, 0);
    const seen = [];
    for (let i = 0; i < 6; i++) {
      t.rateLimited(undefined);
      seen.push(t.allowed);
    }
    assert.deepEqual(seen, [2, 1, 1, 1, 1, 1]);
  });

  test('successes grow it back by one per recoverAfter, up to the maximum', () => {
    const t = new Throttle(4, 0, 0, 3);
    t.rateLimited(undefined);
    t.rateLimited(undefined);
    assert.equal(t.allowed, 1);
    t.succeeded();
    t.succeeded();
    assert.equal(t.allowed, 1);
    t.succeeded();
    assert.equal(t.allowed, 2);
    for (let i = 0; i < 30; i++) t.succeeded();
    assert.equal(t.allowed, 4);
  });

  test('a 429 restarts the count of successes', () => {
    const t = new Throttle(8, 0, 0, 3);
    t.rateLimited(undefined);
    assert.equal(t.allowed, 4);
    t.succeeded();
    t.succeeded();
    t.rateLimited(undefined);
    assert.equal(t.allowed, 2);
    t.succeeded();
    t.succeeded();
    assert.equal(t.allowed, 2);
    t.succeeded();
    assert.equal(t.allowed, 3);
  });
});

describe('acquire', () => {
  test('resolves at once with no cap and no pause', async () => {
    const t = new Throttle(4, 0);
    const ms = await elapsed(async () => {
      for (let i = 0; i < 100; i++) await t.acquire();
    });
    assert.ok(ms < 250, `${ms} ms`);
  });

  test('waits out a Retry-After pause, for every caller', async () => {
    const t = new Throttle(4, 0);
    t.rateLimited(120);
    const waits = await Promise.all([elapsed(() => t.acquire()), elapsed(() => t.acquire())]);
    // Timers may fire a millisecond early against performance.now(); allow for that.
    for (const ms of waits) assert.ok(ms >= 115 && ms < 1000, `${ms} ms`);
    assert.ok((await elapsed(() => t.acquire())) < 100, 'the pause is over');
  });

  test('a longer pause is not shortened by a later, shorter hint', async () => {
    const t = new Throttle(4, 0, 0);
    t.rateLimited(150);
    t.rateLimited(10);
    const ms = await elapsed(() => t.acquire());
    assert.ok(ms >= 145, `${ms} ms`);
  });

  test('an abort ends the wait', async () => {
    const t = new Throttle(4, 0);
    t.rateLimited(10_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const t0 = performance.now();
    await assert.rejects(t.acquire(ac.signal), { name: 'AbortError' });
    assert.ok(performance.now() - t0 < 9_000, 'well before the 10 s pause ends');
  });

  test('the requests-per-second cap paces acquire', async () => {
    // Burst of one (the concurrency), then one token every 25 ms.
    const t = new Throttle(1, 40);
    const ms = await elapsed(async () => {
      for (let i = 0; i < 9; i++) await t.acquire();
    });
    assert.ok(ms >= 8 * 25 - 10, `9 requests at 40/s took ${ms} ms`);
    assert.ok(ms < 1500, `${ms} ms`);
  });

  test('the first burst is as large as the concurrency allows', async () => {
    const t = new Throttle(5, 10);
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await t.acquire();
    const burst = performance.now() - t0;
    assert.ok(burst < 90, `${burst} ms`);
    // Measured from the start: the bucket refills while the burst runs.
    await t.acquire();
    assert.ok(performance.now() - t0 >= 95, `${performance.now() - t0} ms`);
  });

  test('a cap below one request per second still lets requests through', async () => {
    const t = new Throttle(4, 0.8);
    assert.ok((await elapsed(() => t.acquire())) < 500, 'the first request goes at once');
    const second = await elapsed(() => t.acquire());
    assert.ok(second >= 1200 && second < 3000, `${second} ms`);
  });
});
