import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunnerEventMap } from '../src/engine/events.ts';
import { runBatch } from '../src/engine/runner.ts';
import { FatalRunError } from '../src/errors.ts';
import { simFor } from './helpers/loopback.ts';
import { workloadFor } from './helpers/batch.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, readOutput, writeWorkload } from './helpers/workload.ts';

const fast = { pollIntervalMs: 20, maxPollIntervalMs: 100, maxRequestsPerSecond: 0, apiKey: 'k' };

test('responses that end failed, incomplete or cancelled get an error line with the server body; the run goes on and ends 1', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { faults: { seed: 7, failRate: 0.1, incompleteRate: 0.1, cancelRate: 0.1 } });
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 200);
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, ...fast });
  assert.equal(summary.exitCode, 1);
  const { failed, incomplete, cancelled, completed } = summary.counts;
  assert.ok(failed > 0 && incomplete > 0 && cancelled > 0, JSON.stringify(summary.counts));
  assert.equal(failed + incomplete + cancelled + completed, 200);
  const out = readOutput(join(dir, 'out.jsonl'));
  assert.equal(out.length, 200);
  const byCode = (code: string) => out.filter((l) => l.error?.code === code);
  assert.equal(byCode('server_error').length, failed);
  assert.equal(byCode('incomplete').length, incomplete);
  assert.match(byCode('incomplete')[0]!.error!.message, /max_output_tokens/);
  assert.equal(byCode('incomplete')[0]!.response!.body['status'], 'incomplete');
  assert.equal(out.filter((l) => l.response?.body['status'] === 'cancelled').length, cancelled);
});

test('`retry` gives unsuccessful jobs a new attempt and key, runs them, and rewrites the output in order', async (t) => {
  const { sim, input, output, expected } = await workloadFor(t, 60, { sim: { faults: { seed: 3, failRate: 0.2 } } });
  const first = await runBatch({ input, output, baseUrl: sim.url, ...fast });
  const failed = first.counts.failed;
  assert.ok(failed > 0);
  const inferences = sim.stats().inferences;

  sim.setFaults({ failRate: 0 });
  const retried = await runBatch({ input, output, baseUrl: sim.url, retryFailed: true, ...fast });
  assert.equal(retried.exitCode, 0);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().inferences, inferences + failed, 'only the failed jobs were paid for again');
  assert.equal(sim.stats().replays, 0, 'new keys: no replay of the stored failures');
});

test('a response the server forgot (404 on poll) ends expired; so does one still running past its deadline', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { latencyMs: { asap: 10, standard: 10, flex: 10 }, faults: { expireAfterMs: 1 } });
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 10);
  const gone = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, ...fast, pollIntervalMs: 200 });
  assert.equal(gone.counts.expired, 10);
  assert.equal(readOutput(join(dir, 'out.jsonl'))[0]!.error!.code, 'response_not_found');

  const slow = await simFor(t, { latencyMs: { asap: 60_000, standard: 60_000, flex: 60_000 } });
  const late = await runBatch({ input, output: join(dir, 'late.jsonl'), baseUrl: slow.url, ...fast, jobDeadlineMs: 300 });
  assert.equal(late.counts.expired, 10);
  const line = readOutput(join(dir, 'late.jsonl'))[0]!;
  assert.equal(line.error!.code, 'deadline_exceeded');
  assert.match(line.error!.message, /past its deadline/);
});

test('a server that forgets answers seconds after they are done loses none of a 24h batch: the first poll comes soon, not 30 s later', async (t) => {
  const dir = testDir(t);
  // Done in 200 ms, forgotten 8 s later: the 24h window's fixed first poll (30 s) would find every one gone.
  const sim = await simFor(t, { latencyMs: { asap: 200, standard: 200, flex: 200 }, faults: { expireAfterMs: 8_000 } });
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 30, ['24h', 'flex']);
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, maxRequestsPerSecond: 0, apiKey: 'k' });
  assert.equal(summary.counts.expired, 0, JSON.stringify(summary.counts));
  assert.equal(summary.exitCode, 0);
  assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), []);
});

test('a 429 storm slows the whole run (fewer requests in flight), and every job still completes once', async (t) => {
  const dir = testDir(t);
  // Replies take 20 ms, so requests really overlap at the server and the in-flight cap bites.
  const sim = await simFor(t, { faults: { maxInFlight: 4, retryAfterS: 0.05, slowRate: 1, slowMs: 20 } });
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 150);
  const events = new EventEmitter<RunnerEventMap>();
  let lowest = Infinity;
  events.on('run:progress', (p) => (lowest = Math.min(lowest, p.allowed)));
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, ...fast, concurrency: 32, maxRetries: 2 }, { events });
  assert.equal(summary.exitCode, 0, JSON.stringify(summary.counts));
  assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), []);
  assert.ok((sim.stats().faults['429 in-flight cap'] ?? 0) > 0, 'the simulator did answer 429');
  assert.ok(lowest < 32, `concurrency was cut (lowest allowed ${lowest})`);
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('a steady 5% of 429s does not hold concurrency down: a 300-line run takes at most a few times as long as without them', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 300, ['asap']);
  // Every request takes 100 ms at the server: the run's pace is set by how many are in flight, and
  // a second (the cooldown between two cuts) holds few rounds of requests, as on a real network.
  const timed = async (name: string, rateLimitRate: number) => {
    const sim = await simFor(t, { faults: { seed: 3, rateLimitRate, retryAfterS: 0.02, slowRate: 1, slowMs: 100 } });
    const events = new EventEmitter<RunnerEventMap>();
    let throttled = 0;
    events.on('run:progress', (p) => (throttled += p.throttledTo === null ? 0 : 1));
    const output = join(dir, `${name}.jsonl`);
    const t0 = performance.now();
    const summary = await runBatch({ input, output, baseUrl: sim.url, ...fast }, { events });
    const ms = performance.now() - t0;
    assert.equal(summary.exitCode, 0, name);
    assert.deepEqual(mismatches(readOutput(output), expected), [], name);
    assert.equal(sim.stats().duplicateInferences, 0, name);
    return { ms, throttled, limited: sim.stats().faults['429 random'] ?? 0 };
  };
  const clean = await timed('clean', 0);
  const limited = await timed('limited', 0.05);
  const ratio = limited.ms / clean.ms;
  t.diagnostic(`clean ${Math.round(clean.ms)} ms, with ${limited.limited} 429s ${Math.round(limited.ms)} ms: ${ratio.toFixed(2)}x`);
  assert.ok(limited.limited >= 15, `the simulator answered 429 often enough (${limited.limited})`);
  assert.ok(limited.throttled > 0, 'progress said the 429s were holding the run back');
  assert.ok(ratio < 2.5, `5% of 429s made the run ${ratio.toFixed(2)}x as long as without them`);
});

test('5xx on polls retries the GET, never the POST', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { faults: { seed: 11, serverErrorRate: 0.3 } });
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 40);
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, ...fast, maxRetries: 20 });
  assert.equal(summary.exitCode, 0);
  assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), []);
  assert.ok(summary.requests.retries > 0);
  assert.equal(sim.stats().inferences, 40);
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('an API that never answers stops the run with a fatal error, before anything is sent', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 5);
  // A port that was free a moment ago: connections are refused.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  await assert.rejects(
    runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: `http://127.0.0.1:${port}/v1`, ...fast, unreachableAfterMs: 500, maxRetries: 50 }),
    (e: unknown) => e instanceof FatalRunError && /does not answer: connection refused/.test(e.message) && /Rerun the same command/.test(e.message),
  );
});

test('replies slower than the client timeout are retried under the same key: no duplicate inference', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { faults: { seed: 5, slowRate: 0.2, slowMs: 400 } });
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 40);
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, ...fast, requestTimeoutMs: 150, maxRetries: 20 });
  assert.equal(summary.exitCode, 0);
  assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), []);
  assert.ok((sim.stats().faults['slow'] ?? 0) > 0 && summary.requests.retries > 0, JSON.stringify([sim.stats(), summary.requests]));
  assert.equal(sim.stats().inferences, 40);
  assert.ok(sim.stats().replays > 0, `timed-out POSTs were answered from the idempotency store ${JSON.stringify(sim.stats())}`);
});

test('a POST whose outcome stays unknown past the retry budget is sent again later with the same key, not failed', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 5);
  const warnings: string[] = [];
  const events = new EventEmitter<RunnerEventMap>();
  // Garbage from the first POST on (the pre-flight GET /models before it gets a clean answer).
  events.on('run:phase', (p) => {
    if (p.phase === 'running' && warnings.length === 0) sim.setFaults({ garbageRate: 1 });
  });
  events.on('run:warning', (w) => {
    warnings.push(w.message);
    sim.setFaults({ garbageRate: 0 });
  });
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, ...fast, maxRetries: 0 }, { events });
  assert.equal(summary.exitCode, 0, JSON.stringify(summary.counts));
  assert.match(warnings[0]!, /POST outcome unknown \(invalid_body\); sending it again with the same key/);
  assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), []);
  const stats = sim.stats();
  assert.equal(stats.inferences, 5, `the garbled POSTs had run; sending again replayed them (${JSON.stringify(stats)})`);
  assert.ok(stats.replays >= 1, JSON.stringify(stats));
});

test('429 insufficient_quota stops the run (waiting will not fix it)', async () => {
  const { classify } = await import('../src/api/retry-policy.ts');
  const { ApiError } = await import('../src/api/api-error.ts');
  const quota = ApiError.fromResponse(429, { error: { message: 'out of credit', code: 'insufficient_quota' } }, {}, 'POST /v1/responses');
  assert.equal(classify(quota, 'POST', Date.now()).verdict, 'fatal');
});
