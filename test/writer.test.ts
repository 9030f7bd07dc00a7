import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import { writeResults } from '../src/output/writer.ts';
import { processStartTime } from '../src/process-liveness.ts';
import { workloadFor } from './helpers/batch.ts';
import { runCli } from './helpers/cli.ts';

const fast = ['--completion-window', 'asap', '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0'];

test('rewriting the output keeps its mode; the checkpoint and its WAL and SHM are created 0600', async (t) => {
  const { sim, input, output, dir } = await workloadFor(t, 3, { windows: ['asap'] });
  const db = join(dir, 'cp.sqlite');
  writeFileSync(output, 'old results\n');
  chmodSync(output, 0o600);
  const r = await runCli(['run', input, '-o', output, '--db', db, '--base-url', sim.url, ...fast]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(output).mode & 0o777, 0o600, 'the user chose 0600 for the results');

  const store = await SqliteStore.open(db, {});
  t.after(() => store.close());
  await store.counts();
  for (const f of [db, `${db}-wal`, `${db}-shm`]) assert.equal(statSync(f).mode & 0o777, 0o600, f);
});

test('a write removes the temporary files that killed writers of the same output left, and only those', async (t) => {
  const { sim, input, output, dir } = await workloadFor(t, 2, { windows: ['asap'] });
  const r = await runCli(['run', input, '-o', output, '--base-url', sim.url, ...fast]);
  assert.equal(r.code, 0, r.stderr);
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  const leftovers = [`.out.jsonl.${gone}.tmp`, `.out.jsonl.${gone}-123.tmp`, `.out.jsonl.${process.pid}-1.tmp`];
  const kept = [`.out.jsonl.${process.pid}-${processStartTime() ?? '0'}.tmp`, `.other.jsonl.${gone}.tmp`];
  for (const f of [...leftovers, ...kept]) writeFileSync(join(dir, f), 'partial');

  const store = await SqliteStore.open(`${output}.checkpoint.sqlite`, { readonly: true });
  t.after(() => store.close());
  await writeResults(store, output);
  const left = readdirSync(dir).filter((f) => f.endsWith('.tmp')).sort();
  // This test's own temp name is the one writeResults itself uses (removed by its rename), so it is not asserted on.
  assert.deepEqual(left.filter((f) => !kept.includes(f)), [], `leftovers of dead writers are removed: ${left.join(', ')}`);
  assert.ok(existsSync(join(dir, `.other.jsonl.${gone}.tmp`)), "another output's files are not touched");
});
