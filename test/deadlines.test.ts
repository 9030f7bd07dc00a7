import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Deadlines } from '../src/api/deadlines.ts';

// The deadline timer does not hold the process open (the requests' sockets do): a test holds it.
const holdOpen = () => {
  const t = setInterval(() => {}, 1_000);
  return () => clearInterval(t);
};

function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

test('deadlines expire on one timer, each once, never early, and not once marked done', async () => {
  const release = holdOpen();
  const deadlines = new Deadlines();
  const expired: string[] = [];
  const lastExpired = signal();
  const t0 = Date.now();
  const at: Record<string, number> = {};
  const add = (name: string, ms: number) =>
    deadlines.add(ms, () => {
      at[name] = Date.now() - t0;
      expired.push(name);
      if (name === 'last') lastExpired.resolve();
    });
  add('a', 30);
  const b = add('b', 30);
  add('short', 10);
  add('c', 30);
  add('last', 60);
  b.done = true;
  await lastExpired.promise;
  deadlines.close();
  release();
  // On a loaded machine one sweep may find several deadlines already past; the order within a
  // sweep is not a promise, only that each fires once, never early, and a done one never fires.
  assert.deepEqual([...expired].sort(), ['a', 'c', 'last', 'short']);
  assert.ok(at['short']! >= 10 && at['a']! >= 30 && at['c']! >= 30 && at['last']! >= 60, JSON.stringify(at));
});

test('a deadline added after the queue drained still expires; close stops the rest', async () => {
  const release = holdOpen();
  const deadlines = new Deadlines();
  const first = signal();
  deadlines.add(5, first.resolve);
  await first.promise;
  const second = signal();
  deadlines.add(5, second.resolve);
  await second.promise;
  let fired = false;
  deadlines.add(5, () => (fired = true));
  deadlines.close();
  const later = signal();
  setTimeout(later.resolve, 30);
  await later.promise;
  release();
  assert.equal(fired, false);
});
