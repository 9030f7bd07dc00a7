import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatDuration, formatRate } from '../src/human-format.ts';
import { RateMeter } from '../src/progress/rate-meter.ts';
import { columnsOf, fitLine, wrapLine } from '../src/progress/terminal-width.ts';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { writeWorkload } from './helpers/workload.ts';

const flags = ['--poll-interval', '30ms', '--max-poll-interval', '150ms', '--max-rps', '0', '--concurrency', '8'];
const ESC = '\x1b';
// Jobs finish over about a second, long enough for a measured rate.
const spread = { latencyMs: { asap: 200, standard: 600, flex: 1000 } };

test('forced TTY: bars for sent and finished with rate and ETA, drawn with escape codes; stdout stays empty', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, spread);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 60);

  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, ...flags], { SAILBATCH_PROGRESS: 'tty' });

  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes(`${ESC}[`), 'the bars are drawn with cursor movements');
  assert.match(r.stderr, / sent +\|.*\| 60\/60 100% \| [\d.]+\/(s|min) \| all done/);
  assert.match(r.stderr, / finished \|.*\| 60\/60 100% \| [\d.]+\/(s|min) \| all done/);
  assert.match(r.stderr, / finished \|.*\| \d+\/60 \d+% \| ([\d.]+\/(s|min)|-\/s) \| ETA (-|<1s|\d)/, 'an ETA while jobs were left');
  assert.match(r.stderr, /in flight \(limit 8\) \| 60 POST, \d+ GET, 0 retries/);
  // Phase lines come after the bars are stopped, each on its own line.
  assert.match(r.stderr, /\nsailbatch: writing .*out\.jsonl\nsailbatch: done\n/);
  assert.match(r.stderr, /finished in [\d.]+s: 60 jobs, 60 completed/);
});

test('forced TTY of unknown width: bars and failure lines fit 80 columns (failures cut with …)', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { ...spread, withdrawnModels: ['no/such-model'] });
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 40);
  const longId = 'a-custom-id-long-enough-to-push-its-failure-line-well-past-the-eighty-columns-of-a-terminal';
  appendFileSync(input, `${JSON.stringify({ custom_id: longId, model: 'no/such-model', input: 'x' })}\n`);

  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, ...flags], { SAILBATCH_PROGRESS: 'tty' });

  assert.equal(r.code, 1, r.stderr);
  // Everything written between two cursor movements or line ends is one stretch of one screen line.
  const pieces = r.stderr.split(/\x1b\[[0-9;?]*[A-Za-z]|\r|\n/).filter(Boolean);
  const bars = pieces.filter((p) => / (sent {4}|finished) \|/.test(p));
  assert.ok(bars.length > 0, r.stderr);
  assert.ok(bars.every((p) => p.length <= 80), bars.filter((p) => p.length > 80).join('\n'));
  const failure = pieces.find((p) => p.startsWith('sailbatch: line 41 ('));
  assert.ok(failure, r.stderr);
  assert.equal([...failure].length, 80);
  assert.ok(failure.endsWith('…') && failure.startsWith(`sailbatch: line 41 (${longId.slice(0, 40)}`), failure);
  // The summary is printed after the bars, for the terminal to wrap: the whole of it is there.
  assert.match(r.stderr, /finished in [\d.]+m?s: 41 jobs, 40 completed, 1 failed\./);
  assert.match(r.stderr, /`sailbatch retry` with the same arguments/);
});

test('fitLine cuts with an ellipsis, wrapLine breaks at spaces', () => {
  assert.equal(fitLine('short', 80), 'short');
  assert.equal(fitLine('abcdefghij', 5), 'abcd…');
  assert.deepEqual(wrapLine('one two three four', 9), ['one two', 'three', 'four']);
  assert.deepEqual(wrapLine('abcdefghijkl', 5), ['abcde', 'fghij', 'kl']);
  assert.ok(wrapLine('x '.repeat(100), 80).every((l) => l.length <= 80));
  assert.equal(columnsOf({}), 80);
  assert.equal(columnsOf({ columns: 132 }), 132);
});

test('plain: timestamped lines at the interval and at each phase change, failures listed, no escape codes or carriage returns', async (t) => {
  const dir = testDir(t);
  // The model passes the pre-flight (GET /models lists it) and is refused at POST: a per-line 404.
  const sim = await simFor(t, { ...spread, withdrawnModels: ['no/such-model'] });
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 60);
  appendFileSync(input, `${JSON.stringify({ custom_id: 'bad-model', model: 'no/such-model', input: 'x' })}\n`);

  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--log-every', '100ms', ...flags], {
    SAILBATCH_PROGRESS: 'plain',
  });

  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.ok(!r.stderr.includes(ESC), 'no ANSI escape codes');
  assert.ok(!r.stderr.includes('\r'), 'no carriage returns');
  const lines = r.stderr.trimEnd().split('\n');
  const logged = lines.filter((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z sailbatch: /.test(l));
  const messages = logged.map((l) => l.replace(/^\S+ sailbatch: /, ''));
  const phase = (m: RegExp) => messages.findIndex((x) => m.test(x));
  assert.ok(phase(/^validating /) >= 0 && phase(/^running 61 jobs/) > phase(/^validating /), messages.join('\n'));
  assert.ok(phase(/^writing /) > phase(/^running /) && phase(/^done$/) > phase(/^writing /), messages.join('\n'));
  const progress = messages.filter((m) => /^\d+\/61 finished/.test(m));
  assert.ok(progress.length >= 3, `several progress lines at --log-every 100ms:\n${messages.join('\n')}`);
  // The last counts are logged when the phase changes, whether or not the interval came round.
  assert.match(messages[phase(/^writing /) - 1]!, /^61\/61 finished \(60 completed, 1 not\), 0 at the server, 0 to send; [\d.]+\/(s|min), all done; 0 requests in flight \(limit 8\); 61 POST, \d+ GET, 0 retries$/);
  assert.ok(messages.some((m) => /^line 61 \(bad-model\) ended failed on attempt 1: .*model_not_found/.test(m)), messages.join('\n'));
  assert.ok(lines.some((l) => /^finished in \d+(ms|s|m\d\ds): 61 jobs, 60 completed, 1 failed\.$/.test(l)), r.stderr);
});

test('--quiet prints nothing on a run where every job completes', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 10);
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--quiet', ...flags], { SAILBATCH_PROGRESS: 'tty' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, '');
});

test('rate meter: pace over the window, time left at that pace; human formats', () => {
  const m = new RateMeter(10_000);
  assert.equal(m.perSecond(), undefined);
  m.add(0, 0);
  m.add(50, 400);
  assert.equal(m.perSecond(), undefined, 'too short a span to tell');
  m.add(100, 1_000);
  assert.equal(m.perSecond(), 100);
  assert.equal(m.etaMs(250), 2_500);
  // Samples older than the window stop counting: the pace follows the recent past.
  m.add(100, 20_000);
  m.add(110, 30_000);
  assert.equal(m.perSecond(), 1);
  m.add(110, 45_000);
  assert.equal(m.etaMs(10), undefined, 'no progress in the window: no ETA');

  assert.equal(formatRate(42.4), '42/s');
  assert.equal(formatRate(2.25), '2.3/s');
  assert.equal(formatRate(0.5), '30/min');
  assert.equal(formatRate(1 / 600), '6.0/h');
  assert.equal(formatDuration(850), '850ms');
  assert.equal(formatDuration(187_000), '3m07s');
  assert.equal(formatDuration(7_500_000), '2h05m');
  assert.equal(formatDuration(3 * 86_400_000 + 4 * 3_600_000), '3d04h');
});
