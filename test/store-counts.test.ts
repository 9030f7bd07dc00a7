import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../src/checkpoint/open-store.ts';
import { MIGRATIONS, migrate } from '../src/checkpoint/sqlite/migrations.ts';
import { CRASH_POINTS } from '../src/engine/crash-points.ts';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { assertKept } from './helpers/recount.ts';
import { testDir } from './helpers/tmp.ts';
import { writeWorkload } from './helpers/workload.ts';

// The running counts and totals of the SQLite store (migration v4) against a full recount of
// the rows: after an upgrade from v3, and after crashes, resumes and retries of real runs. The
// same after every kind of write, on both stores, is in store-contract-reads.test.ts.

async function assertKeptIn(file: string, what: string): Promise<void> {
  const store = await openStore(file, { readonly: true });
  try {
    await assertKept(store, what);
  } finally {
    await store.close();
  }
}

test('a checkpoint of schema v3 gets its counts and totals from its rows when it is upgraded', async (t) => {
  const file = join(testDir(t), 'v3.sqlite');
  const db = new Database(file);
  t.after(() => db.close());
  for (const m of MIGRATIONS.slice(0, 3)) db.exec(m);
  db.pragma('user_version = 3');
  const insert = db.prepare(
    `INSERT INTO jobs (idx, line_no, custom_id, url, state, result, poll_count, submitted_at_ms, finished_at_ms, updated_at_ms)
     VALUES (?, ?, ?, '/v1/responses', ?, ?, ?, ?, ?, 0)`,
  );
  insert.run(0, 1, 'a', 'completed', JSON.stringify({ usage: { input_tokens: 3, output_tokens: 4 } }), 2, 10, 20);
  insert.run(1, 2, 'b', 'submitted', null, 1, 11, null);
  insert.run(2, 3, 'c', 'pending', null, 0, null, null);
  insert.run(3, 4, 'd', 'failed', 'garbage', 0, null, 30);
  migrate(db, file);
  await assertKeptIn(file, 'after the upgrade');
  const store = await openStore(file, { readonly: true });
  t.after(() => store.close());
  assert.equal((await store.summary()).lastFinishedAtMs, 30);
});

test('after a kill at each crash point and the rerun, the counts and totals equal a recount', async (t) => {
  const sim = await simFor(t, { faults: { seed: 3, failRate: 0.2 } });
  for (const point of CRASH_POINTS) {
    const dir = testDir(t);
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    const db = join(dir, 'cp.sqlite');
    writeWorkload(input, 20);
    const args = ['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0', '--concurrency', '8', '--namespace', point];
    const crashed = await runCli(args, { SAILBATCH_CRASH_AT: `${point}:2` });
    assert.equal(crashed.signal, 'SIGKILL', `expected to die at ${point}: ${crashed.stderr}`);
    await assertKeptIn(db, `killed at ${point}`);
    const rerun = await runCli(args);
    assert.ok(rerun.code === 0 || rerun.code === 1, rerun.stderr);
    await assertKeptIn(db, `rerun after ${point}`);
    const retried = await runCli(['retry', ...args.slice(1)]);
    assert.ok(retried.code === 0 || retried.code === 1, retried.stderr);
    await assertKeptIn(db, `retry after ${point}`);
  }
});
