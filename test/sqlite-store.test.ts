import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { JOB_STATES } from '../src/checkpoint/job-states.ts';
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import { processStartTime } from '../src/process-liveness.ts';
import { CheckpointBusyError, CheckpointError } from '../src/errors.ts';
import { batchMeta, finished, newJob as job, submitted } from './helpers/stores.ts';
import { testDir } from './helpers/tmp.ts';

// What only the SQLite store has: its file and pragmas, its one-runner lease (by pid, start time
// and machine), claims kept in memory, WAL readers. Everything else a store does is in the
// store contract (store-contract*.test.ts), run against SQLite and PostgreSQL alike.

function openCp(t: TestContext, file = join(testDir(t), 'cp.sqlite')): SqliteStore {
  const cp = SqliteStore.open(file);
  t.after(() => cp.close());
  return cp;
}

/** A second, raw connection to the same file: for what a test must see or set below the store. */
function rawDb(t: TestContext, file: string): Database.Database {
  const db = new Database(file);
  t.after(() => db.close());
  return db;
}

describe('opening', () => {
  test('WAL, synchronous set after the switch, busy timeout and foreign keys', async (t) => {
    const cp = openCp(t);
    // The store's own connection, read through the driver: the pragmas are per connection.
    const db = (cp as unknown as { db: Database.Database }).db;
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
    assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
    assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  });

  test('reopening keeps the data', async (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const a = SqliteStore.open(file);
    await a.insertJobs([job(0), job(1)]);
    await a.close();
    const b = openCp(t, file);
    assert.equal(await b.total(), 2);
    assert.equal((await b.job(1))?.customId, 'req-1');
  });
});

describe('loading', () => {
  test('syncs wait while a batch loads; it is marked loaded only once the whole load is in the database file', async (t) => {
    const dir = testDir(t);
    const file = join(dir, 'cp.sqlite');
    const cp = openCp(t, file);
    const db = (cp as unknown as { db: Database.Database }).db;
    // What survives without the WAL: a copy of the database file alone.
    let copies = 0;
    const fileAlone = () => {
      const copy = join(dir, `copy-${copies++}.sqlite`);
      copyFileSync(file, copy);
      const d = new Database(copy);
      try {
        if (d.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'jobs'").get() === undefined) return undefined;
        return d.prepare('SELECT (SELECT COUNT(*) FROM jobs) AS jobs, input_bytes AS inputBytes, loaded_at_ms AS loadedAtMs FROM batch').get() as
          | { jobs: number; inputBytes: number; loadedAtMs: number | null }
          | undefined;
      } finally {
        d.close();
      }
    };

    await cp.createBatch(batchMeta());
    assert.equal(db.pragma('synchronous', { simple: true }), 0, 'OFF while loading');
    await cp.insertJobs(Array.from({ length: 50 }, (_, i) => job(i)));
    assert.equal(fileAlone()?.jobs ?? 0, 0, 'the load is still in the WAL');

    await cp.markLoaded(1234, 'sha-in');
    assert.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL once loaded');
    assert.deepEqual(fileAlone(), { jobs: 50, inputBytes: 1234, loadedAtMs: null }, 'the load, not yet the mark, is in the file');
    assert.equal(typeof (await cp.batch())?.loadedAtMs, 'number');
  });
  test('jobs without a batch (a load an OS crash cut short) have no key to read: the read says so instead of deriving one', async (t) => {
    const cp = openCp(t);
    await cp.insertJobs([job(0, { idempotencyKey: null }), job(1)]);
    await assert.rejects(cp.job(0), (e: unknown) => e instanceof CheckpointError && /holds jobs but no batch/.test(e.message));
    assert.equal((await cp.job(1))?.idempotencyKey, 'key-1-a0', 'a stored key needs no batch');
  });

  test('the update that records a POST\'s outcome stores the key it carried, so that the output does not derive it again; a stored key stays', async (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const cp = openCp(t, file);
    await cp.createBatch(batchMeta());
    await cp.insertJobs([0, 1, 2].map((i) => job(i, { idempotencyKey: null })).concat(job(3)));
    await cp.claimPending(10);
    await cp.apply([
      submitted(0, { idempotencyKey: 'sent-0' }),
      finished(1, JOB_STATES.completed, { idempotencyKey: 'sent-1' }),
      submitted(3, { idempotencyKey: 'sent-3' }),
    ]);
    const raw = rawDb(t, file);
    const stored = () => raw.prepare('SELECT idx, idempotency_key AS k FROM jobs ORDER BY idx').all();
    assert.deepEqual(stored(), [{ idx: 0, k: 'sent-0' }, { idx: 1, k: 'sent-1' }, { idx: 2, k: null }, { idx: 3, k: 'key-3-a0' }]);
    await cp.apply([finished(0, JOB_STATES.completed, { responseId: 'resp_0' })]);
    assert.equal((stored()[0] as { k: string }).k, 'sent-0', 'a poll\'s update, which carries no key, keeps the one stored');
  });
});

describe('claims', () => {
  test('live in memory only: nothing is claimed in the file, so after a crash every job is due again', async (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const cp = openCp(t, file);
    await cp.insertJobs(Array.from({ length: 4 }, (_, i) => job(i)));
    await cp.apply([submitted(0, { nextPollAtMs: 300 }), submitted(1, { nextPollAtMs: 100 }), submitted(2, { nextPollAtMs: 200 })]);
    assert.deepEqual((await cp.claimDuePolls(1_000, 10)).map((r) => r.idx), [1, 2, 0]);
    assert.deepEqual((await cp.claimPending(10)).map((r) => r.idx), [3]);
    const reopened = openCp(t, file);
    assert.deepEqual((await reopened.claimDuePolls(1_000, 10)).map((r) => r.idx), [1, 2, 0]);
    assert.deepEqual((await reopened.claimPending(10)).map((r) => r.idx), [3]);
  });
});

describe('lease', () => {
  test('the owner takes and renews it; another run is refused while it is fresh', async (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const a = openCp(t, file);
    const b = openCp(t, file);
    await a.acquireLease('run-a', 60_000);
    assert.deepEqual({ ...(await a.lease()), heartbeatMs: 0 }, { owner: 'run-a', pid: process.pid, host: hostname(), heartbeatMs: 0, pidStarted: processStartTime() });
    await a.acquireLease('run-a', 60_000);
    assert.equal(await a.heartbeat('run-a'), true);
    await assert.rejects(
      b.acquireLease('run-b', 60_000),
      (e: unknown) => {
        assert.ok(e instanceof CheckpointBusyError);
        assert.ok(e instanceof CheckpointError);
        assert.match(e.message, new RegExp(`in use by another run \\(pid ${process.pid} on `));
        return true;
      },
    );
    assert.equal((await b.lease())?.owner, 'run-a');
    await b.releaseLease('run-b');
    assert.equal((await b.lease())?.owner, 'run-a', 'only the owner releases');
    await a.releaseLease('run-a');
    assert.equal(await b.lease(), undefined);
    await b.acquireLease('run-b', 60_000);
    assert.equal((await a.lease())?.owner, 'run-b');
  });

  test('a stale lease is taken over, and its old owner learns so on its next heartbeat', async (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const a = openCp(t, file);
    const b = openCp(t, file);
    await a.acquireLease('run-a', 60_000);
    rawDb(t, file).prepare('UPDATE lease SET heartbeat_ms = ?').run(Date.now() - 61_000);
    await b.acquireLease('run-b', 60_000);
    assert.equal((await b.lease())?.owner, 'run-b');
    assert.equal(await a.heartbeat('run-a'), false);
    assert.equal(await b.heartbeat('run-b'), true);
  });

  test('a fresh lease of a process of this machine that has exited is taken over', async (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const cp = openCp(t, file);
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    rawDb(t, file)
      .prepare('INSERT INTO lease (id, owner, pid, host, heartbeat_ms) VALUES (1, ?, ?, ?, ?)')
      .run('run-dead', gone, hostname(), Date.now());
    await cp.acquireLease('run-b', 60_000);
    assert.equal((await cp.lease())?.owner, 'run-b');
  });
});

test('a fresh lease whose pid now names another process (reused: another start time) is taken over', async (t) => {
  const file = join(testDir(t), 'cp.sqlite');
  const cp = openCp(t, file);
  const insert = rawDb(t, file).prepare('INSERT OR REPLACE INTO lease (id, owner, pid, host, heartbeat_ms, pid_started) VALUES (1, ?, ?, ?, ?, ?)');
  // This test's own pid is alive: only the start time tells that the lease's process is not this one.
  insert.run('run-old', process.pid, hostname(), Date.now(), processStartTime());
  await assert.rejects(cp.acquireLease('run-b', 60_000), CheckpointBusyError);
  insert.run('run-old', process.pid, hostname(), Date.now(), '1');
  await cp.acquireLease('run-b', 60_000);
  assert.equal((await cp.lease())?.owner, 'run-b');
});

test('a read-only open after the writer closed sees every commit (the WAL was folded into the file)', async (t) => {
  const file = join(testDir(t), 'cp.sqlite');
  const w = SqliteStore.open(file);
  await w.insertJobs([job(0), job(1)]);
  await w.apply([submitted(0)], { posts: 1 });
  await w.apply([finished(0, 'completed')]);
  await w.close();
  const after = SqliteStore.open(file, { readonly: true });
  t.after(() => after.close());
  assert.deepEqual(await after.counters(), { posts: 1 });
  assert.deepEqual(
    (await after.jobsPage(-1, 10)).map((row) => [row.idx, row.state]),
    [
      [0, 'completed'],
      [1, 'pending'],
    ],
  );
});
