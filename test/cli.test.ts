import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { join } from 'node:path';
import { runBatch } from '../src/engine/runner.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { writeWorkload } from './helpers/workload.ts';

const run = promisify(execFile);

test('the built bin runs as a program (shebang and executable bit), as npx and the package bin run it', async () => {
  const { stdout } = await run(BIN, ['--help'], { env: { PATH: process.env['PATH'] ?? '' } });
  for (const command of ['run <input>', 'retry <input>', 'status', 'export', 'models', 'sim']) {
    assert.ok(stdout.includes(`sailbatch ${command}`), `--help lists ${command}:\n${stdout}`);
  }
});

test('a bad flag value is a usage error in house wording that exits, even with --simulate', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 2);
  const out = join(dir, 'out.jsonl');
  for (const [flag, value, message] of [
    ['--log-every', 'abc', '--log-every must be a duration such as 500ms, 2s, 5m or 1h (got "abc")'],
    ['--log-every', '0', '--log-every must be at least 1ms (got "0")'],
    ['--concurrency', '0', '--concurrency must be an integer >= 1 (got 0)'],
    ['--max-retries', '1.5', '--max-retries must be an integer >= 0 (got 1.5)'],
    ['--max-rps', '-1', '--max-rps must be a number >= 0 (got -1)'],
  ] as const) {
    // A run that never exits is killed at the timeout: its code is then null, not 2.
    const r = await runCli(['run', input, '-o', out, '--simulate', flag, value], {}, 60_000);
    assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
    assert.ok(r.stderr.includes(message), `${flag} ${value}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /internal error|option \w+:|Too small/);
  }
  await assert.rejects(runBatch({ input, output: out, apiKey: 'k', concurrency: 0 }), { name: 'UsageError', message: 'concurrency must be an integer >= 1 (got 0)' });
});

test('`sailbatch sim` on a busy port says so and exits 2, without a stack trace', async (t) => {
  const busy = await simFor(t);
  const port = new URL(busy.url).port;
  const r = await runCli(['sim', '--port', port], {}, 60_000);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}: the port is in use by another program`));
  assert.doesNotMatch(r.stderr, /internal error|    at /);
});
