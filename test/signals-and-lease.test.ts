import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { batchStatus } from '../src/checkpoint/batch-status.ts';
import { defaultDbPath } from '../src/options.ts';
import { BIN, runCli, spawnCli, waitForOutput } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { workloadFor } from './helpers/batch.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, readOutput, writeWorkload } from './helpers/workload.ts';

const flags = ['--poll-interval', '30ms', '--max-poll-interval', '200ms', '--max-rps', '0', '--log-every', '100ms'];
const slow = { latencyMs: { asap: 400, standard: 800, flex: 1200 } };
// No job finishes until the test lets it (setLatency): the first run is surely still going when
// the next starts, however slowly the machine starts it.
const held = { latencyMs: { asap: 600_000, standard: 600_000, flex: 600_000 } };

test('SIGINT mid-run stops within a few seconds with a resume hint; the rerun completes with no duplicate inference', async (t) => {
  // Held at the server: on a fast machine all 200 POSTs may be out before the signal lands, but
  // no job can finish before it.
  const { sim, input, output, expected } = await workloadFor(t, 200, { sim: held });
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--concurrency', '8', ...flags];

  const child = spawnCli(args);
  await waitForOutput(child, 'running');
  child.kill('SIGINT');
  const r = await child.result;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /Rerun the same command to resume/);
  const stopped = await batchStatus(defaultDbPath(output));
  assert.equal(stopped.counts.completed, 0, 'it really stopped mid-run');
  assert.ok(stopped.counts.pending + stopped.counts.submitted === 200);

  sim.setLatency(slow.latencyMs);

  const again = await runCli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().inferences, 200);
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('a second SIGINT quits at once, and the batch still resumes', async (t) => {
  const dir = testDir(t);
  // No reply comes while the signals arrive, so requests are in flight for the whole 2 s grace.
  const sim = await simFor(t, { faults: { slowRate: 1, slowMs: 600_000, spareModels: true } });
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  const expected = writeWorkload(input, 40, ['asap']);
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--concurrency', '40', ...flags];
  const child = spawnCli(args);
  await waitForOutput(child, /; [1-9][\d,]* requests? in flight/);
  child.kill('SIGINT');
  await waitForOutput(child, 'stopping');
  child.kill('SIGINT');
  const r = await child.result;
  assert.equal(r.code, 130);
  assert.match(r.stderr, /quitting now/);
  assert.doesNotMatch(r.stderr, /stopped after/, 'the second signal quits without waiting out the grace and the summary');

  sim.setFaults({ slowRate: 0 });
  const again = await runCli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('a second run on a busy checkpoint is refused; after the first is SIGKILLed a new run takes over', async (t) => {
  const { sim, input, output, expected } = await workloadFor(t, 60, { sim: held });
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--concurrency', '4', ...flags];

  const first = spawnCli(args);
  let firstErr = '';
  first.stderr!.on('data', (d: Buffer) => (firstErr += d.toString()));
  await waitForOutput(first, 'running');
  assert.equal(first.exitCode, null, `the first run is still going: ${firstErr}`);
  const second = await runCli(args);
  assert.equal(second.code, 2, `${second.stderr}\nfirst run: ${firstErr}`);
  assert.match(second.stderr, /checkpoint is in use by another run \(pid \d+/);

  first.kill('SIGKILL');
  await first.result;
  sim.setLatency(slow.latencyMs);
  const third = await runCli(args);
  assert.equal(third.code, 0, third.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('a runner SIGKILLed with its process group, left a zombie by a parent that does not reap, does not block the rerun', async (t) => {
  const { sim, input, output, expected } = await workloadFor(t, 60, { sim: held });
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--concurrency', '4', ...flags];
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // As under cron or systemd: the runner leads its own process group (setsid), and its parent (the
  // shell, become `sleep`) never waits for it, so once killed it stays a zombie.
  const sh = spawn('sh', ['-c', `setsid ${quoted} & echo $!; exec sleep 600`], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', SAIL_API_KEY: 'test-key', SAILBATCH_PROGRESS: 'plain' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  t.after(() => process.kill(-sh.pid!, 'SIGKILL'));
  const [pidLine] = (await once(sh.stdout!, 'data')) as [Buffer];
  const pid = Number(pidLine.toString().trim());
  await waitForOutput(sh, 'running');
  process.kill(-pid, 'SIGKILL');
  while (!/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) await sleep(20);
  sim.setLatency(slow.latencyMs);

  const again = await runCli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().duplicateInferences, 0);
});
