import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { BIN } from './helpers/cli.ts';

const run = promisify(execFile);

test('the built bin runs as a program (shebang and executable bit), as npx and the package bin run it', async () => {
  const { stdout } = await run(BIN, ['--help'], { env: { PATH: process.env['PATH'] ?? '' } });
  for (const command of ['run <input>', 'retry <input>', 'status', 'export', 'models', 'sim']) {
    assert.ok(stdout.includes(`sailbatch ${command}`), `--help lists ${command}:\n${stdout}`);
  }
});
