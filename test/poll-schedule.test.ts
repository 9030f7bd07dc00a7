import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMPLETION_WINDOWS, POLL_GROWTH, WINDOW_CADENCE, deadlineMs, isCompletionWindow } from '../src/api/completion-window.ts';
import { jobDeadlineMs, pollDelayMs } from '../src/engine/poll-schedule.ts';

const mid = () => 0.5; // jitter factor exactly 1
const HOUR = 3_600_000;

describe('pollDelayMs', () => {
  test('starts at the window first delay and grows by POLL_GROWTH', () => {
    const { firstPollMs } = WINDOW_CADENCE['15m'];
    assert.equal(pollDelayMs('15m', 0, {}, mid), firstPollMs);
    assert.equal(pollDelayMs('15m', 1, {}, mid), Math.round(firstPollMs * POLL_GROWTH));
    assert.equal(pollDelayMs('15m', 2, {}, mid), Math.round(firstPollMs * POLL_GROWTH ** 2));
    let prev = 0;
    for (let n = 0; n < 6; n++) {
      const d = pollDelayMs('24h', n, {}, mid);
      assert.ok(d > prev, `poll ${n}: ${d} after ${prev}`);
      prev = d;
    }
  });

  test('stops growing at the window cap', () => {
    for (const w of COMPLETION_WINDOWS) {
      const { maxPollMs } = WINDOW_CADENCE[w];
      assert.equal(pollDelayMs(w, 50, {}, mid), maxPollMs, w);
      assert.equal(pollDelayMs(w, 5000, {}, mid), maxPollMs, `${w}, huge poll count`);
    }
  });

  test('jitter stays within ±20%', () => {
    const base = WINDOW_CADENCE.asap.firstPollMs;
    assert.equal(pollDelayMs('asap', 0, {}, () => 0), Math.round(base * 0.8));
    assert.equal(pollDelayMs('asap', 0, {}, () => 0.999999), Math.round(base * 1.2));
    for (let i = 0; i < 200; i++) {
      const d = pollDelayMs('asap', 3, {}, Math.random);
      const b = Math.min(WINDOW_CADENCE.asap.maxPollMs, base * POLL_GROWTH ** 3);
      assert.ok(d >= Math.round(b * 0.8) && d <= Math.round(b * 1.2), `${d}`);
    }
  });

  test('a longer window polls less often', () => {
    const first = (w: string) => pollDelayMs(w, 0, {}, mid);
    assert.ok(first('asap') < first('15m') && first('15m') < first('24h'));
    const cap = (w: string) => pollDelayMs(w, 99, {}, mid);
    assert.ok(cap('asap') < cap('15m') && cap('15m') < cap('24h'));
  });

  test('overrides replace the first delay and the cap', () => {
    const o = { pollIntervalMs: 100, maxPollIntervalMs: 400 };
    assert.equal(pollDelayMs('24h', 0, o, mid), 100);
    assert.equal(pollDelayMs('24h', 1, o, mid), 150);
    assert.equal(pollDelayMs('24h', 20, o, mid), 400);
    // A cap below the first delay cannot make polls come sooner than asked.
    assert.equal(pollDelayMs('24h', 3, { pollIntervalMs: 500, maxPollIntervalMs: 100 }, mid), 500);
    // Only the cap overridden: the window's own first delay still applies.
    assert.equal(pollDelayMs('asap', 0, { maxPollIntervalMs: 2_000 }, mid), WINDOW_CADENCE.asap.firstPollMs);
    assert.equal(pollDelayMs('asap', 30, { maxPollIntervalMs: 2_000 }, mid), 2_000);
  });

  test('an unknown or missing window polls like 24h', () => {
    for (const n of [0, 3, 40]) {
      assert.equal(pollDelayMs(null, n, {}, mid), pollDelayMs('24h', n, {}, mid));
      assert.equal(pollDelayMs('1w', n, {}, mid), pollDelayMs('24h', n, {}, mid));
    }
  });
});

describe('completion windows', () => {
  test('both vocabularies map to the same cadence and deadline', () => {
    const pairs = [
      ['asap', 'priority'],
      ['15m', 'standard'],
      ['24h', 'flex'],
    ] as const;
    for (const [a, b] of pairs) {
      assert.deepEqual(WINDOW_CADENCE[a], WINDOW_CADENCE[b]);
      assert.equal(deadlineMs(a), deadlineMs(b));
      for (const n of [0, 2, 9, 60]) assert.equal(pollDelayMs(a, n, {}, mid), pollDelayMs(b, n, {}, mid), `${a}/${b} poll ${n}`);
    }
  });

  test('the deadline is the window plus a grace of the window again, at least an hour', () => {
    assert.equal(deadlineMs('asap'), 5 * 60_000 + HOUR);
    assert.equal(deadlineMs('15m'), 15 * 60_000 + HOUR);
    assert.equal(deadlineMs('24h'), 48 * HOUR);
    assert.equal(jobDeadlineMs('standard', {}), deadlineMs('15m'));
    assert.equal(jobDeadlineMs(null, {}), deadlineMs('24h'));
    assert.equal(jobDeadlineMs('asap', { jobDeadlineMs: 1234 }), 1234);
  });

  test('isCompletionWindow accepts exactly the six names', () => {
    for (const w of COMPLETION_WINDOWS) assert.ok(isCompletionWindow(w));
    for (const w of ['', '1h', 'ASAP', null, undefined, 24]) assert.equal(isCompletionWindow(w), false, String(w));
  });
});
