import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import { runCli, spawnCli, waitForOutput } from './helpers/cli.ts';
import { killAtInferences } from './helpers/kill.ts';
import { simFor } from './helpers/loopback.ts';
import { workloadFor } from './helpers/batch.ts';
import { newJob } from './helpers/stores.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, readOutput, writeWorkload } from './helpers/workload.ts';

const fastFlags = ['--poll-interval', '30ms', '--max-poll-interval', '200ms', '--max-rps', '0', '--log-every', '100ms'];

test('SIGKILLed several times mid-run and rerun: complete ordered output, exactly one inference per line', async (t) => {
  const { sim, input, output, expected } = await workloadFor(t, 400, { sim: { latencyMs: { asap: 150, standard: 300, flex: 600 } } });
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--concurrency', '16', ...fastFlags];

  // Kill at different moments: during the first submissions, while polling, late in the run.
  for (const inferences of [60, 140, 220, 300]) {
    const r = await killAtInferences(spawnCli(args), sim, inferences);
    assert.equal(r.signal, 'SIGKILL', `killed mid-run once ${inferences} inferences had started: ${r.stderr}`);
  }

  const final = await runCli(args);
  assert.equal(final.code, 0, final.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  const stats = sim.stats();
  assert.equal(stats.inferences, 400, 'one inference per line, however often the run was killed');
  assert.equal(stats.duplicateInferences, 0);
});

test('rerunning a finished batch sends no POST and rewrites the same output', async (t) => {
  const { sim, input, output } = await workloadFor(t, 50);
  const args = ['run', input, '-o', output, '--base-url', sim.url, ...fastFlags];
  const first = await runCli(args);
  assert.equal(first.code, 0, first.stderr);
  const firstBytes = readFileSync(output);
  const posts = sim.stats().posts;

  writeFileSync(output, 'clobbered\n');
  const second = await runCli(args);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(sim.stats().posts, posts, 'no POST on a rerun of a finished batch');
  assert.deepEqual(readFileSync(output), firstBytes);
});

test('a checkpoint holding jobs but no batch (what an OS crash can leave of a load, which does not wait for the disk) is started over', async (t) => {
  const { sim, input, output, expected } = await workloadFor(t, 20);
  const leftover = SqliteStore.open(`${output}.checkpoint.sqlite`);
  await leftover.insertJobs(Array.from({ length: 5 }, (_, i) => newJob(i, { customId: `job-${String(i).padStart(6, '0')}` })));
  await leftover.close();
  const r = await runCli(['run', input, '-o', output, '--base-url', sim.url, ...fastFlags]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().inferences, 20);
});

test('a checkpoint reused with a modified input file is refused with what to do', async (t) => {
  const { sim, input, output } = await workloadFor(t, 20);
  const args = ['run', input, '-o', output, '--base-url', sim.url, ...fastFlags];
  assert.equal((await runCli(args)).code, 0);
  const posts = sim.stats().posts;

  appendFileSync(input, '{"input":"one more","model":"openai/gpt-oss-20b"}\n');
  const r = await runCli(args);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is not the file checkpoint .* was made from: its size changed/);
  assert.match(r.stderr, /use another --db/);
  assert.equal(sim.stats().posts, posts);

  // Same size, different content.
  const text = readFileSync(input, 'utf8').replace('Question 3:', 'Question 4:');
  writeFileSync(input, text.replace(/\{"input":"one more".*\n$/, ''));
  const r2 = await runCli(args);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /content changed/);
});

test('a checkpoint started under another API key is refused (it would pay again)', async (t) => {
  const { sim, input, output } = await workloadFor(t, 10);
  const args = ['run', input, '-o', output, '--base-url', sim.url, ...fastFlags];
  assert.equal((await runCli(args, { SAIL_API_KEY: 'key-one' })).code, 0);
  const r = await runCli(args, { SAIL_API_KEY: 'key-two' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /different API key/);
  assert.match(r.stderr, /pay again/);
  const db = readFileSync(`${output}.checkpoint.sqlite`);
  assert.equal(db.includes(Buffer.from('key-one')), false, 'the key itself is never stored');
});

test('an unauthorized key stops the run at once with exit 3; rerunning with the right key resumes', async (t) => {
  const { dir, sim, input, output, expected } = await workloadFor(t, 30, { sim: { apiKeys: ['good-key'] } });
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--db', join(dir, 'cp.sqlite'), ...fastFlags];
  const bad = await runCli(args, { SAIL_API_KEY: 'bad-key' });
  assert.equal(bad.code, 3, bad.stderr);
  assert.match(bad.stderr, /HTTP 401/);
  assert.match(bad.stderr, /rerun the same command to resume/);
  assert.ok(sim.stats().unauthorized <= 32, 'stopped at once, not after trying every line');
  assert.equal(sim.stats().inferences, 0);

  const good = await runCli(args, { SAIL_API_KEY: 'good-key' });
  assert.equal(good.code, 0, good.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().inferences, 30);
});

test('a --simulate run killed mid-run resumes like a real one (the simulator keeps a journal beside the checkpoint)', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  const expected = writeWorkload(input, 120);
  // At 40 requests a second at most 40 jobs finish a second: once 1 to 20 are done, the 100 or
  // more left need 100 GETs at least, so the kill lands mid-run on a fast machine as well.
  const args = ['run', input, '-o', output, '--simulate', '--concurrency', '8', '--log-every', '100ms', '--max-rps', '40'];
  const child = spawnCli(args);
  // Killed once some jobs are done and most are not.
  await waitForOutput(child, /\b(?:[1-9]|1\d|20)\/120 finished/);
  child.kill('SIGKILL');
  assert.equal((await child.result).signal, 'SIGKILL');

  const again = await runCli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /SIMULATED RUN/);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
});

test('`sailbatch retry` resends the jobs that failed, with new keys, and finishes the batch', async (t) => {
  const { sim, input, output, expected } = await workloadFor(t, 30, { sim: { faults: { seed: 9, failRate: 0.3 } } });
  const args = [input, '-o', output, '--base-url', sim.url, ...fastFlags];
  const first = await runCli(['run', ...args]);
  assert.equal(first.code, 1, first.stderr);
  const failed = readOutput(output).filter((l) => l.error !== null).length;
  assert.ok(failed > 0);

  sim.setFaults({ failRate: 0 });
  const retried = await runCli(['retry', ...args]);
  assert.equal(retried.code, 0, retried.stderr);
  assert.match(retried.stderr, new RegExp(`retrying ${failed} jobs?`));
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().inferences, 30 + failed);
});

test('--simulate never sends or records the real key, so a simulated checkpoint cannot be resumed against the API', async (t) => {
  const { sim, input, output } = await workloadFor(t, 5);
  const simulated = await runCli(['run', input, '-o', output, '--simulate'], { SAIL_API_KEY: 'real-key' });
  assert.equal(simulated.code, 0, simulated.stderr);
  const real = await runCli(['run', input, '-o', output, '--base-url', sim.url], { SAIL_API_KEY: 'real-key' });
  assert.equal(real.code, 2);
  assert.match(real.stderr, /different API key/);
  assert.equal(sim.stats().posts, 0);
});

test('an output path that is the input file is refused before anything is sent', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 3);
  const before = readFileSync(input);
  const r = await runCli(['run', input, '-o', input, '--base-url', sim.url]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is the input file/);
  assert.deepEqual(readFileSync(input), before);
  assert.equal(sim.stats().posts, 0);
});
