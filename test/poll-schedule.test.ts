import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMPLETION_WINDOWS, POLL_GROWTH, WINDOW_CADENCE, deadlineMs, isCompletionWindow } from '../src/api/completion-window.ts';
import { PollSchedule, jobDeadlineMs, pollDelayMs } from '../src/engine/poll-schedule.ts';
import { seededRandom } from '../src/sim/deterministic.ts';

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

  test('the first poll comes at its delay, unjittered (polls keep the order jobs were sent in); later ones within ±20%', () => {
    const base = WINDOW_CADENCE.asap.firstPollMs;
    assert.equal(pollDelayMs('asap', 0, {}, () => 0), base);
    assert.equal(pollDelayMs('asap', 0, {}, () => 0.999999), base);
    assert.equal(pollDelayMs('asap', 1, {}, () => 0), Math.round(base * POLL_GROWTH * 0.8));
    assert.equal(pollDelayMs('asap', 1, {}, () => 0.999999), Math.round(base * POLL_GROWTH * 1.2));
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

describe('PollSchedule: the first poll learned from the replies', () => {
  /** Jobs that take `took()` ms each, polled first when the schedule says; returns the share done at their first poll. */
  function drive(s: PollSchedule, window: string, jobs: number, took: () => number): number {
    let done = 0;
    for (let i = 0; i < jobs; i++) {
      const at = s.delayMs(window, 0);
      const ok = took() <= at;
      if (ok) done++;
      s.observeFirstPoll(window, at, ok);
    }
    return done / jobs;
  }

  test('settles where about 97% of first polls find the job done, for a server faster than the window', () => {
    const random = seededRandom(7);
    const s = new PollSchedule({}, random);
    const took = () => 25 + 50 * random();
    drive(s, 'asap', 3_000, took);
    const first = s.firstPollMs('asap');
    assert.ok(first > 60 && first < 110, `learned first poll ${first} ms for jobs of 25-75 ms`);
    const share = drive(s, 'asap', 3_000, took);
    assert.ok(share > 0.93 && share < 0.995, `done at first poll: ${share}`);
  });

  test('follows the server when it slows down, and never polls later than the window says', () => {
    const random = seededRandom(8);
    const s = new PollSchedule({}, random);
    drive(s, 'asap', 2_000, () => 20);
    assert.ok(s.firstPollMs('asap') < 40);
    drive(s, 'asap', 300, () => 400 + 100 * random());
    assert.ok(s.firstPollMs('asap') > 400, `after the slowdown: ${s.firstPollMs('asap')}`);
    drive(s, 'asap', 300, () => 60_000);
    assert.equal(s.firstPollMs('asap'), WINDOW_CADENCE.asap.firstPollMs);
  });

  test('each cadence learns on its own; an explicit --poll-interval or webhooks turn learning off', () => {
    const s = new PollSchedule({}, mid);
    drive(s, 'priority', 1_000, () => 30);
    assert.ok(s.firstPollMs('asap') < 100, 'asap and priority share a cadence');
    assert.equal(s.firstPollMs('24h'), WINDOW_CADENCE.asap.firstPollMs, 'the 24h cadence has learned nothing yet');
    const fixed = new PollSchedule({ pollIntervalMs: 500 }, mid);
    drive(fixed, 'asap', 1_000, () => 30);
    assert.equal(fixed.delayMs('asap', 0), 500);
    assert.equal(fixed.delayMs('asap', 1), 750);
    const webhooks = new PollSchedule({}, mid, false);
    drive(webhooks, '24h', 100, () => 30);
    assert.equal(webhooks.delayMs('24h', 0), WINDOW_CADENCE['24h'].firstPollMs, "webhooks: the window's own cadence");
  });

  test('a fresh schedule polls soon in every window, so a short-lived answer is fetched before the server forgets it', () => {
    const s = new PollSchedule({}, mid);
    for (const w of ['asap', '15m', '24h', 'flex', null]) assert.ok(s.delayMs(w, 0) <= 1_000, `${w}: first poll after ${s.delayMs(w, 0)} ms`);
  });

  test('starting soon, the estimate climbs to a slow server within five first polls, never past the window', () => {
    const s = new PollSchedule({}, mid);
    const share = drive(s, '24h', 5, () => 20_000);
    assert.ok(s.firstPollMs('24h') >= 15_000, `after 5 jobs of 20 s: ${s.firstPollMs('24h')} ms`);
    assert.equal(share, 0, 'the early polls found the jobs running');
    drive(s, '24h', 200, () => 3_600_000);
    assert.equal(s.firstPollMs('24h'), WINDOW_CADENCE['24h'].firstPollMs);
  });

  test('until a first poll finds a job done, each that finds one running doubles the estimate; after, it moves by the small steps', () => {
    const s = new PollSchedule({}, mid);
    const start = s.firstPollMs('24h');
    drive(s, '24h', 3, () => 20_000);
    assert.equal(s.firstPollMs('24h'), 8 * start, 'three running jobs: doubled three times');
    drive(s, '24h', 1, () => 0);
    const settled = s.firstPollMs('24h');
    assert.ok(settled < 8 * start, 'a done job lowers it');
    drive(s, '24h', 1, () => 20_000);
    assert.ok(s.firstPollMs('24h') < 1.5 * settled, `a running job after a done one raises it by a third, not double: ${s.firstPollMs('24h')} from ${settled}`);
  });

  test('a poll that came long after it was due says nothing when it finds the job done', () => {
    const s = new PollSchedule({}, mid);
    for (let i = 0; i < 500; i++) s.observeFirstPoll('asap', 5_000, true);
    assert.equal(s.firstPollMs('asap'), WINDOW_CADENCE.asap.firstPollMs);
  });

  test('first polls planned before the estimate rose are moved to it without a GET; later polls, and schedules that do not learn, are not', () => {
    const s = new PollSchedule({}, mid);
    const planned = s.delayMs('24h', 0);
    assert.equal(s.postponedFirstPoll('24h', 0, planned), null, 'planned with the present estimate: poll now');
    drive(s, '24h', 12, () => 20_000);
    const estimate = s.firstPollMs('24h');
    assert.ok(estimate > 4 * planned);
    // A job sent at 0 and planned then, due now at `planned`: moved to its place under the estimate, later than now.
    assert.equal(s.postponedFirstPoll('24h', 0, planned), Math.round(estimate));
    assert.equal(s.postponedFirstPoll('24h', 0, 0.9 * estimate), null, 'within a tenth of the estimate: poll now');
    assert.ok(s.postponedFirstPoll('24h', 0, 0.89 * estimate)! > 0.89 * estimate, 'sooner than that: later than now');
    const webhooks = new PollSchedule({}, mid, false);
    assert.equal(webhooks.postponedFirstPoll('24h', 0, 10), null, 'with webhooks a poll due now is never put off');
    const fixed = new PollSchedule({ pollIntervalMs: 60_000 }, mid);
    assert.equal(fixed.postponedFirstPoll('24h', 0, 10), null, 'an explicit --poll-interval is followed');
  });
});
