import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CRASH_POINTS } from '../src/engine/crash-points.ts';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, readOutput, writeWorkload } from './helpers/workload.ts';

const flags = ['--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0', '--concurrency', '8'];

// Like SQLite's crash tests: die at each named point in turn (SIGKILL, no cleanup), rerun, and
// check that nothing was lost and nothing was paid for twice.
for (const point of CRASH_POINTS) {
  for (const nth of [1, 7]) {
    test(`killed at ${point} (pass ${nth}), then rerun: complete ordered output, one inference per line`, async (t) => {
      const dir = testDir(t);
      const sim = await simFor(t);
      const input = join(dir, 'in.jsonl');
      const output = join(dir, 'out.jsonl');
      const expected = writeWorkload(input, 30);
      const args = ['run', input, '-o', output, '--base-url', sim.url, ...flags];

      const crashed = await runCli(args, { SAILBATCH_CRASH_AT: `${point}:${nth}` });
      assert.equal(crashed.signal, 'SIGKILL', `expected to die at ${point}: ${crashed.stderr}`);
      if (point !== 'output-writing') assert.equal(existsSync(output), false, 'no results file before the run finished');

      const rerun = await runCli(args);
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.deepEqual(mismatches(readOutput(output), expected), []);
      const stats = sim.stats();
      assert.equal(stats.inferences, 30);
      assert.equal(stats.duplicateInferences, 0);
    });
  }
}
