import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'csv-parse/sync';
import { runCli, spawnCli, waitForOutput } from './helpers/cli.ts';
import { workloadFor } from './helpers/batch.ts';
import { REVIEW_SCHEMA, writeReviews } from './helpers/dataset.ts';
import { simFor } from './helpers/loopback.ts';
import { pgDatabaseFor, stopPostgres, withClient } from './helpers/postgres.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL, mismatches, readOutput } from './helpers/workload.ts';

after(stopPostgres);

const polls = ['--poll-interval', '50ms', '--max-poll-interval', '300ms', '--max-rps', '0', '--log-every', '200ms'];
const flags = [...polls, '--lease-stale', '2s'];

test('run with a postgres:// --db, a second run of the same input and a worker on the batch id drain it together; batches, status and export work on the URL', async (t) => {
  const db = await pgDatabaseFor(t);
  const { sim, input, output, expected, dir } = await workloadFor(t, 600, { sim: { latencyMs: { asap: 100, standard: 200, flex: 300 } } });
  const args = ['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--concurrency', '24', ...flags];

  const first = spawnCli(args);
  await waitForOutput(first, 'running');
  const second = spawnCli([...args.slice(0, 3), join(dir, 'second.jsonl'), ...args.slice(4)]);
  const worker = spawnCli(['worker', '--db', db, '--batch', '1', '--log-every', '200ms']);
  const [a, b, w] = await Promise.all([first.result, second.result, worker.result]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(w.code, 0, w.stderr);
  assert.doesNotMatch(b.stderr, /validating/, 'the second run joined instead of loading again');
  assert.match(w.stderr, /batch 1 is done/);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.deepEqual(mismatches(readOutput(join(dir, 'second.jsonl')), expected), [], 'each waiting run writes the whole results file');
  assert.equal(sim.stats().inferences, 600);
  assert.equal(sim.stats().duplicateInferences, 0);
  assert.doesNotMatch(a.stderr + b.stderr + w.stderr, /:sailbatch-test@/, 'the password in --db is never printed');

  const list = await runCli(['batches', '--db', db]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^1 +\S+in\.jsonl \(default\) +600 of 600 finished/m);
  const listed = await runCli(['batches', '--db', db, '--json']);
  const parsed = JSON.parse(listed.stdout) as { batches: { id: number; total: number; unfinished: number }[]; exitCode: number };
  assert.deepEqual(parsed.batches.map((b) => [b.id, b.total, b.unfinished]), [[1, 600, 0]], 'one JSON object on stdout');

  const status = await runCli(['status', '--db', db, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { counts: { completed: number }; db: string };
  assert.equal(s.counts.completed, 600);
  assert.doesNotMatch(s.db, /sailbatch-test@/);

  const exported = await runCli(['export', '--db', db, '--batch', '1', '-o', join(dir, 'export.jsonl')]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.deepEqual(mismatches(readOutput(join(dir, 'export.jsonl')), expected), []);
});

test('a worker with another API key, an unknown batch, a SQLite --db or options it does not accept is refused with the fix; no password is shown', async (t) => {
  const db = await pgDatabaseFor(t);
  const { sim, input, output } = await workloadFor(t, 5);
  const run = await runCli(['run', input, '-o', output, '--db', db, '--base-url', sim.url, ...flags]);
  assert.equal(run.code, 0, run.stderr);
  const otherKey = await runCli(['worker', '--db', db, '--batch', '1'], { SAIL_API_KEY: 'another-key' });
  assert.equal(otherKey.code, 2);
  assert.match(otherKey.stderr, /different API key.*give this worker the batch's key/);
  const unknown = await runCli(['worker', '--db', db, '--batch', '7']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no batch 7 in this database; `sailbatch batches --db <url>` lists them/);
  assert.doesNotMatch(unknown.stderr, /sailbatch-test@/);
  const sqlite = await runCli(['worker', '--db', output + '.db', '--batch', '1']);
  assert.equal(sqlite.code, 2);
  assert.match(sqlite.stderr, /must be a postgres:\/\/ URL/);
  // Options recorded by a sailbatch that accepts what this one does not (here, no concurrency at all).
  await withClient(db, (c) => c.query(`UPDATE batches SET options_json = jsonb_set(options_json::jsonb, '{concurrency}', '0')::text WHERE id = 1`));
  const skewed = await runCli(['worker', '--db', db, '--batch', '1']);
  assert.equal(skewed.code, 2, skewed.stderr);
  assert.match(skewed.stderr, /batch 1 in .* records options this sailbatch does not accept: concurrency must be an integer >= 1 \(got 0\); run the worker with the sailbatch version that started the batch/);
  assert.doesNotMatch(skewed.stderr, /internal error|ZodError|sailbatch-test@/);
});

test('batches counts a worker live by its batch\'s own --lease-stale, not by the default', async (t) => {
  const db = await pgDatabaseFor(t);
  const { sim, input, output } = await workloadFor(t, 5);
  const run = await runCli(['run', input, '-o', output, '--db', db, '--base-url', sim.url, ...polls, '--lease-stale', '120s']);
  assert.equal(run.code, 0, run.stderr);
  // Heartbeats every 40 s: one 60 s old is live under 120 s (not under the default 30 s); one 130 s old is not.
  const now = Date.now();
  await withClient(db, async (c) => {
    for (const [owner, age] of [['recent', 60_000], ['gone', 130_000]] as const) {
      await c.query('INSERT INTO workers (batch_id, owner, host, pid, started_at_ms, heartbeat_ms) VALUES (1, $1, $2, 1, $3, $3)', [owner, 'host', now - age]);
    }
  });
  const listed = await runCli(['batches', '--db', db, '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual((JSON.parse(listed.stdout) as { batches: { liveWorkers: number }[] }).batches.map((b) => b.liveWorkers), [1]);
});

test('a run paused (SIGSTOP) past its claims\' expiry and resumed does not write over the jobs another worker finished meanwhile', async (t) => {
  const db = await pgDatabaseFor(t);
  // Every reply takes 2 s at first, so the paused run holds claims with POSTs in flight.
  const { sim, input, output, expected, dir } = await workloadFor(t, 20, { sim: { faults: { slowRate: 1, slowMs: 2000 } }, windows: ['asap'] });
  const paused = spawnCli(['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--concurrency', '20', ...polls, '--lease-stale', '1s']);
  t.after(() => paused.kill('SIGKILL'));
  await waitForOutput(paused, 'running');
  while (sim.stats().posts < 20) {
    assert.equal(paused.exitCode, null, 'the run is going');
    await new Promise((r) => setTimeout(r, 20));
  }
  paused.kill('SIGSTOP');
  sim.setFaults({ slowRate: 0 });

  const other = await runCli(['worker', '--db', db, '--batch', '1', '--lease-stale', '1s', '--log-every', '200ms'], { SAILBATCH_HOST: 'other-host' });
  assert.equal(other.code, 0, other.stderr);
  const before = join(dir, 'before.jsonl');
  assert.equal((await runCli(['export', '--db', db, '-o', before])).code, 0);
  assert.deepEqual(mismatches(readOutput(before), expected), [], 'the other worker finished every job');

  paused.kill('SIGCONT');
  const resumed = await paused.result;
  assert.equal(resumed.code, 0, resumed.stderr);
  const dropped = [...resumed.stderr.matchAll(/(\d+) jobs? (?:was|were) taken over by another worker while this one was paused/g)].reduce((n, m) => n + Number(m[1]), 0);
  assert.equal(dropped, 20, `its late answers met claims it no longer held: ${resumed.stderr}`);
  const afterwards = join(dir, 'after.jsonl');
  assert.equal((await runCli(['export', '--db', db, '-o', afterwards])).code, 0);
  assert.equal(readFileSync(afterwards, 'utf8'), readFileSync(before, 'utf8'), 'nothing was written over');
  assert.equal(readFileSync(output, 'utf8'), readFileSync(before, 'utf8'), 'the resumed run wrote the same results');
  assert.equal(sim.stats().inferences, 20);
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('a templated, schema-checked CSV run on PostgreSQL with a second worker: invalid answers end invalid_output, `retry` on the URL resends exactly those, status reads the URL', async (t) => {
  const db = await pgDatabaseFor(t);
  const dir = testDir(t);
  const sim = await simFor(t, { faults: { invalidAnswerRate: 0.1, seed: 11 } });
  const { csv, template, schema, rows } = writeReviews(dir, 300);
  const output = join(dir, 'labeled.csv');
  const args = ['run', csv, '-o', output, '--db', db, '--base-url', sim.url, '--template', template, '--schema', schema,
    '--model', MODEL, '--completion-window', 'asap', '--concurrency', '16', ...flags];
  const first = spawnCli(args);
  await waitForOutput(first, 'running');
  const worker = spawnCli(['worker', '--db', db, '--batch', '1', '--log-every', '200ms'], { SAILBATCH_HOST: 'second-host' });
  const [a, w] = await Promise.all([first.result, worker.result]);
  assert.equal(a.code, 1, a.stderr);
  assert.equal(w.code, 1, w.stderr);
  const status = await runCli(['status', '--db', db, '--json']);
  assert.equal(status.code, 0, status.stderr);
  const bad = (JSON.parse(status.stdout) as { counts: { invalid_output: number; completed: number } }).counts;
  assert.ok(bad.invalid_output > 10 && bad.invalid_output < 60, `${bad.invalid_output} invalid_output`);
  assert.equal(bad.completed + bad.invalid_output, 300);

  assert.equal(sim.stats().inferences, 300, 'one inference per row across both workers');

  sim.setFaults({ invalidAnswerRate: 0 });
  const retried = await runCli(['retry', ...args.slice(1)]);
  assert.equal(retried.code, 0, retried.stderr);
  assert.equal(sim.stats().inferences, 300 + bad.invalid_output, 'exactly the invalid answers were asked again');
  assert.equal(sim.stats().duplicateInferences, bad.invalid_output, 'each of them once');

  const out = parse(readFileSync(output), { columns: true, bom: true }) as Record<string, string>[];
  assert.equal(out.length, 300);
  const validate = new Ajv2020({ allErrors: true }).compile(REVIEW_SCHEMA);
  out.forEach((r, i) => {
    assert.deepEqual({ sku: r['sku'], product: r['product'], body: r['body'] }, rows[i], `row ${i + 1}: input columns intact and in order`);
    assert.equal(r['status'], 'completed');
    const answer = { sentiment: r['sentiment'], stars: Number(r['stars']), detail: JSON.parse(r['detail']!) as unknown };
    assert.ok(validate(answer), `row ${i + 1}: ${JSON.stringify(answer)}`);
  });
});
