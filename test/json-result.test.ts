import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, spawnCli, waitForOutput, type CliResult } from './helpers/cli.ts';
import { workloadFor } from './helpers/batch.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { writeWorkload } from './helpers/workload.ts';

interface Outcome {
  exitCode: number;
  error: { name: string; message: string } | null;
}

/** stdout under --json: exactly one line, one JSON object, whose exit code is the process's. */
function outcomeOf(r: CliResult): Outcome {
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one JSON line on stdout, got: ${r.stdout}\nstderr: ${r.stderr}`);
  const o = JSON.parse(lines[0]!) as Outcome;
  assert.equal(typeof o, 'object');
  assert.equal(o.exitCode, r.code, `"exitCode" is the real exit code; stderr: ${r.stderr}`);
  return o;
}

const flags = ['--poll-interval', '30ms', '--max-poll-interval', '200ms', '--max-rps', '0', '--log-every', '100ms', '--json'];

test('--json: exit 0 and exit 2 (usage, bad input) each print one object with the exit code and the error', async (t) => {
  const { sim, input, output, dir } = await workloadFor(t, 3);
  const ok = outcomeOf(await runCli(['run', input, '-o', output, '--base-url', sim.url, ...flags]));
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.error, null);

  const usage = outcomeOf(await runCli(['run', join(dir, 'missing.jsonl'), '-o', output, ...flags]));
  assert.equal(usage.exitCode, 2);
  assert.equal(usage.error?.name, 'UsageError');
  assert.match(usage.error.message, /no such input file/);

  const unknownFlag = outcomeOf(await runCli(['run', input, '-o', output, '--no-such-flag', '--json']));
  assert.equal(unknownFlag.error?.name, 'UsageError');

  const bad = join(dir, 'bad.jsonl');
  writeWorkload(bad, 2);
  appendFileSync(bad, '{"input": \n');
  const invalid = outcomeOf(await runCli(['run', bad, '-o', join(dir, 'b.jsonl'), '--base-url', sim.url, ...flags]));
  assert.equal(invalid.error?.name, 'InputError');
  assert.equal((invalid.error as unknown as { count: number }).count, 1);
});

test('--json: a run-wide fatal error (exit 3) and an interrupted run (exit 130) say so in the one object', async (t) => {
  const dir = testDir(t);
  const locked = await simFor(t, { apiKeys: ['the-right-key'] });
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 3);
  const fatal = outcomeOf(await runCli(['run', input, '-o', join(dir, 'f.jsonl'), '--base-url', locked.url, ...flags], { SAIL_API_KEY: 'wrong' }));
  assert.equal(fatal.exitCode, 3);
  assert.equal(fatal.error?.name, 'FatalRunError');

  const slow = await simFor(t, { faults: { slowRate: 1, slowMs: 5_000 } });
  const child = spawnCli(['run', input, '-o', join(dir, 'i.jsonl'), '--base-url', slow.url, ...flags]);
  await waitForOutput(child, 'running');
  child.kill('SIGTERM');
  const stopped = outcomeOf(await child.result);
  assert.equal(stopped.exitCode, 130);
  assert.equal(stopped.error?.name, 'InterruptedError');
  assert.equal((stopped as unknown as { stopped: boolean }).stopped, true, 'the run summary is in the object too');
});
