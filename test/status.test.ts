import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { usageOf } from './helpers/usage.ts';
import Database from 'better-sqlite3';
import { openStore } from '../src/checkpoint/open-store.ts';
import type { BatchStatus } from '../src/checkpoint/batch-status.ts';
import type { RunSummary } from '../src/engine/runner.ts';
import { runCli, spawnCli, waitForOutput } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { workloadFor } from './helpers/batch.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, readOutput, writeWorkload, type OutputLine } from './helpers/workload.ts';

const flags = ['--poll-interval', '50ms', '--max-poll-interval', '200ms', '--max-rps', '0'];

function tokensOf(lines: OutputLine[]) {
  const sum = { input: 0, output: 0, cached: 0, reasoning: 0 };
  for (const l of lines) {
    if (!l.response?.body) continue;
    const u = usageOf(l.response.body);
    sum.input += u.input;
    sum.output += u.output;
    sum.cached += u.cached;
    sum.reasoning += u.reasoning;
  }
  return sum;
}

test('run --json prints only the summary on stdout; its counts, tokens, requests and polls match the checkpoint', async (t) => {
  // no/such-model passes the pre-flight (GET /models lists it) and is refused at POST: a per-line 404.
  const { sim, input, output } = await workloadFor(t, 50, { sim: { withdrawnModels: ['no/such-model'] } });
  const extra = [
    { custom_id: 'chat', method: 'POST', url: '/v1/chat/completions', body: { model: 'openai/gpt-oss-20b', messages: [{ role: 'user', content: 'hi' }] } },
    { custom_id: 'msg', method: 'POST', url: '/v1/messages', body: { model: 'openai/gpt-oss-20b', max_tokens: 40, messages: [{ role: 'user', content: 'hi' }] } },
    { custom_id: 'think', model: 'openai/gpt-oss-20b', input: 'think first', reasoning: { effort: 'low' } },
    { custom_id: 'bad', model: 'no/such-model', input: 'x' },
  ];
  appendFileSync(input, extra.map((l) => `${JSON.stringify(l)}\n`).join(''));

  const r = await runCli(['run', input, '-o', output, '--base-url', sim.url, '--json', ...flags]);

  assert.equal(r.code, 1, r.stderr);
  const stdout = r.stdout.trimEnd().split('\n');
  assert.equal(stdout.length, 1, `one line of JSON on stdout, human text on stderr: ${r.stdout}`);
  const s = JSON.parse(stdout[0]!) as RunSummary;
  assert.match(r.stderr, /finished in/);

  const cp = await openStore(s.db, { readonly: true });
  t.after(() => cp.close());
  assert.deepEqual(s.counts, await cp.counts());
  assert.equal(s.counts.completed, 53);
  assert.equal(s.counts.failed, 1);
  assert.equal(s.total, 54);

  const fromOutput = tokensOf(readOutput(output));
  assert.deepEqual(s.tokens, fromOutput);
  assert.ok(s.tokens.input > 0 && s.tokens.output > 0 && s.tokens.reasoning > 0, JSON.stringify(s.tokens));

  const counters = await cp.counters();
  assert.deepEqual(s.requestsAllRuns, { posts: counters['posts'], gets: counters['gets'], retries: counters['retries'] ?? 0 });
  assert.deepEqual(s.requests, s.requestsAllRuns, 'a single run: this run is all runs');
  assert.equal(s.requests.posts, sim.stats().posts);
  assert.equal(s.requests.gets, sim.stats().gets);
  const raw = new Database(s.db, { readonly: true });
  t.after(() => raw.close());
  const polls = raw.prepare('SELECT SUM(poll_count) AS total, MAX(poll_count) AS max FROM jobs').get() as { total: number; max: number };
  assert.equal(s.polls.total, polls.total);
  assert.equal(s.polls.maxPerJob, polls.max);
  assert.equal(s.polls.total, s.requests.gets - 1, 'every GET but the pre-flight GET /models was a poll, the one that saw the job end included');
  assert.ok(s.polls.meanPerJob >= 1);

  const status = await runCli(['status', '--db', s.db, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const st = JSON.parse(status.stdout) as BatchStatus;
  assert.deepEqual({ counts: st.counts, tokens: st.tokens, requests: st.requests, polls: st.polls }, { counts: s.counts, tokens: s.tokens, requests: s.requestsAllRuns, polls: s.polls });
  assert.equal(st.unfinished, 0);
  assert.equal(st.runner, null);
  assert.deepEqual(
    st.errors.map((e) => [e.line, e.customId, e.state, e.code]),
    [[54, 'bad', 'failed', 'model_not_found']],
  );
});

test('status and export while a run is going in another process; the run is not held up and finishes correctly', async (t) => {
  const dir = testDir(t);
  // Held mid-run until the readers are done: no job can finish before setLatency lets them.
  const hold = { asap: 3_600_000, standard: 3_600_000, flex: 3_600_000 };
  const sim = await simFor(t, { latencyMs: hold });
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  const db = join(dir, 'batch.sqlite');
  const expected = writeWorkload(input, 40);
  const run = spawnCli(['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--concurrency', '40', ...flags]);
  await waitForOutput(run, 'running');

  let mid: BatchStatus | undefined;
  // Until every job is at the server (the first status may come before the first checkpoint flush).
  while (!(mid && mid.counts.submitted === 40)) {
    const r = await runCli(['status', '--db', db, '--json'], {}, 60_000);
    assert.equal(r.code, 0, r.stderr);
    mid = JSON.parse(r.stdout) as BatchStatus;
  }
  assert.ok(mid && mid.counts.submitted > 0, 'status saw jobs at the server');
  assert.equal(mid.total, 40);
  assert.ok(mid.unfinished > 0);
  assert.ok(mid.runner?.live, 'status sees the live runner');
  assert.equal(mid.runner.pid, run.pid);
  const oldest = mid.oldestRunning[0]!;
  assert.ok(oldest.responseId && oldest.line >= 1 && oldest.ageMs >= 0, JSON.stringify(oldest));

  const human = await runCli(['status', '--db', db], {}, 60_000);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, new RegExp(`runner +running: pid ${run.pid} on `));
  assert.match(human.stdout, /oldest running jobs \(\d+ of \d+\):\n {2}line \d+ +job-\d+ +resp_/);

  const partial = join(dir, 'partial.jsonl');
  const exp = await runCli(['export', '--db', db, '-o', partial], {}, 60_000);
  assert.equal(exp.code, 1, exp.stderr);
  assert.match(exp.stderr, /partial export: \d+ of 40 jobs are not finished yet/);
  const lines = readOutput(partial);
  assert.deepEqual(lines.map((l) => l.custom_id), expected.map((e) => e.customId), 'one line per input line, in order');
  const unfinished = lines.filter((l) => l.error?.code === 'not_finished');
  assert.ok(unfinished.length > 0, 'unfinished jobs are marked');
  assert.equal(unfinished.length, Number(/(\d+) of 40/.exec(exp.stderr)![1]));

  sim.setLatency({ asap: 50, standard: 50, flex: 50 });
  const done = await run.result;
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().duplicateInferences, 0);

  const after = join(dir, 'after.jsonl');
  const errors = join(dir, 'errors.jsonl');
  const final = await runCli(['export', '--db', db, '-o', after, '--errors', errors]);
  assert.equal(final.code, 0, final.stderr);
  assert.match(final.stderr, /exported 40 lines/);
  assert.deepEqual(readFileSync(after), readFileSync(output), 'export after the run is the run output, byte for byte');
  assert.equal(readFileSync(errors, 'utf8'), '');
});

test('while 429s hold a run back, its progress line and status in another process say "throttled by 429s: limit N"', async (t) => {
  const dir = testDir(t);
  // Jobs held at the server until the test lets them finish: the run is still going, however fast the machine.
  const hold = { asap: 3_600_000, standard: 3_600_000, flex: 3_600_000 };
  const sim = await simFor(t, { latencyMs: hold, faults: { retryAfterS: 0.05 } });
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  const db = join(dir, 'batch.sqlite');
  const expected = writeWorkload(input, 20, ['asap']);
  const run = spawnCli(['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--concurrency', '2', '--log-every', '100ms', ...flags]);
  let progress = '';
  run.stderr!.on('data', (d: Buffer) => (progress += d.toString()));
  await waitForOutput(run, 'running');
  // Every request answered 429 from now on: the limit is cut to 1, and no success raises it.
  sim.setFaults({ rateLimitRate: 1 });
  await waitForOutput(run, /limit 1\)/);
  assert.match(progress, /requests? in flight \(throttled by 429s: limit 1\)/);

  const json = await runCli(['status', '--db', db, '--json'], {}, 60_000);
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as BatchStatus).runner?.throttledTo, 1);
  const human = await runCli(['status', '--db', db], {}, 60_000);
  assert.match(human.stdout, new RegExp(`runner +running: pid ${run.pid} on .*; throttled by 429s: limit 1\n`));

  sim.setFaults({ rateLimitRate: 0 });
  sim.setLatency({ asap: 50, standard: 50, flex: 50 });
  const done = await run.result;
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().duplicateInferences, 0);
  const after = await runCli(['status', '--db', db]);
  assert.doesNotMatch(after.stdout, /throttled/, 'no run is going: nothing is held back');
});

test('status and export refuse a missing checkpoint, a bad --limit and writing over the checkpoint, with exit 2', async (t) => {
  const dir = testDir(t);
  const missing = join(dir, 'nope.sqlite');
  for (const args of [['status', '--db', missing], ['export', '--db', missing, '-o', join(dir, 'x.jsonl')]]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /nope\.sqlite: no such checkpoint; check --db/);
  }
  const limit = await runCli(['status', '--db', missing, '--limit', '-1']);
  assert.equal(limit.code, 2, limit.stderr);
  assert.match(limit.stderr, /--limit must be a whole number >= 0 \(got -1\)/);
  const over = await runCli(['export', '--db', missing, '-o', `${missing}-wal`]);
  assert.equal(over.code, 2, over.stderr);
  assert.match(over.stderr, /nope\.sqlite-wal: is the checkpoint itself/);
});
