import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { workloadFor } from './helpers/batch.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, readOutput, writeWorkload } from './helpers/workload.ts';

const fast = ['--completion-window', 'asap', '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0'];

/** A small tmpfs of its own (needs root: CI and this project's machine run tests as root), unmounted after the test. */
function smallDisk(t: TestContext, sizeKb: number): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0755`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

test('a full disk: "no space left on <folder>", exit 3, no stack trace; once space is freed the rerun finishes', async (t) => {
  const disk = smallDisk(t, 256);
  if (!disk) return t.skip('needs root to mount a small tmpfs');
  const sim = await simFor(t);
  const input = join(testDir(t), 'in.jsonl');
  const expected = writeWorkload(input, 800, ['asap']);
  const output = join(disk, 'out.jsonl');
  const args = ['run', input, '-o', output, '--base-url', sim.url, ...fast];

  const full = await runCli(args);
  assert.equal(full.code, 3, full.stderr);
  assert.ok(full.stderr.includes(`no space left on ${disk}`), full.stderr);
  assert.doesNotMatch(full.stderr, /internal error|\n +at /);

  execFileSync('mount', ['-o', 'remount,size=64m', disk]);
  const again = await runCli(args);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('a damaged checkpoint: run, status and export say what it is and what to do, without a stack trace', async (t) => {
  const { sim, input, output, dir } = await workloadFor(t, 300, { windows: ['asap'] });
  const db = join(dir, 'cp.sqlite');
  const args = ['run', input, '-o', output, '--db', db, '--base-url', sim.url, ...fast];
  assert.equal((await runCli(args)).code, 0);
  // Every page but the first (the header and the schema) overwritten.
  const fd = openSync(db, 'r+');
  writeSync(fd, Buffer.alloc(statSync(db).size - 4096, 0x5a), 0, undefined, 4096);
  closeSync(fd);
  for (const cmd of [args, ['status', '--db', db], ['export', '--db', db, '-o', join(dir, 'x.jsonl')]]) {
    const r = await runCli(cmd);
    assert.equal(r.code, 2, `${cmd[0]}: ${r.stderr}`);
    assert.match(r.stderr, /the checkpoint is damaged/, cmd[0]);
    assert.match(r.stderr, /PRAGMA integrity_check/, cmd[0]);
    assert.match(r.stderr, /another --db/, cmd[0]);
    assert.doesNotMatch(r.stderr, /internal error|\n +at /, cmd[0]);
  }
});

test('status and export of a checkpoint on a read-only medium work, or say what they need', async (t) => {
  const disk = smallDisk(t, 8192);
  if (!disk) return t.skip('needs root to mount a small tmpfs');
  const sim = await simFor(t);
  const input = join(testDir(t), 'in.jsonl');
  writeWorkload(input, 5, ['asap']);
  const db = join(disk, 'cp.sqlite');
  assert.equal((await runCli(['run', input, '-o', join(disk, 'out.jsonl'), '--db', db, '--base-url', sim.url, ...fast])).code, 0);
  execFileSync('mount', ['-o', 'remount,ro', disk]);
  for (const cmd of [['status', '--db', db], ['export', '--db', db, '-o', join(testDir(t), 'x.jsonl')]]) {
    const r = await runCli(cmd);
    if (r.code === 0) continue;
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /read-only/);
    assert.match(r.stderr, /cp\.sqlite-shm/);
    assert.match(r.stderr, /copy the checkpoint/i);
  }
});
