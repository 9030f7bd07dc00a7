import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import { processStartTime } from '../src/process-liveness.ts';
import type { JobUpdate, NewJob } from '../src/checkpoint/store.ts';
import { CheckpointBusyError, CheckpointError, StateTransitionError } from '../src/errors.ts';
import { testDir } from './helpers/tmp.ts';

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

const job = (idx: number, over: Partial<NewJob> = {}): NewJob => ({
  idx,
  lineNo: idx + 1,
  customId: `req-${idx}`,
  url: '/v1/responses',
  body: JSON.stringify({ model: 'm', input: `line ${idx}` }),
  bodySha256: `sha-${idx}`,
  completionWindow: '24h',
  state: 'pending',
  idempotencyKey: `key-${idx}-a0`,
  ...over,
});

const submitted = (idx: number, over: Partial<Extract<JobUpdate, { kind: 'submitted' }>> = {}): JobUpdate => ({
  kind: 'submitted',
  idx,
  attempt: 0,
  responseId: `resp_${idx}`,
  apiStatus: 'queued',
  requestId: `req_id_${idx}`,
  nextPollAtMs: 1_000 + idx,
  ...over,
});

type Finished = Extract<JobUpdate, { kind: 'finished' }>;
const finished = (idx: number, state: Finished['state'], over: Partial<Finished> = {}): JobUpdate => ({
  kind: 'finished',
  idx,
  attempt: 0,
  state,
  responseId: null,
  apiStatus: state,
  statusCode: 200,
  requestId: null,
  result: JSON.stringify({ id: `resp_${idx}`, status: state }),
  parsed: null,
  errorCode: state === 'completed' ? null : `${state}_code`,
  errorMessage: state === 'completed' ? null : `${state} message`,
  ...over,
});

/** n pending jobs, the first `submit` of them submitted. */
async function seeded(t: TestContext, n: number, submit = 0): Promise<SqliteStore> {
  const cp = openCp(t);
  assert.deepEqual(await cp.insertJobs(Array.from({ length: n }, (_, i) => job(i))), []);
  if (submit) await cp.apply(Array.from({ length: submit }, (_, i) => submitted(i)));
  return cp;
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

describe('insertJobs', () => {
  test('stores jobs as pending at attempt 0 and reports duplicate customIds', async (t) => {
    const cp = openCp(t);
    const dupes = await cp.insertJobs([job(0), job(1), job(2, { customId: 'req-0', lineNo: 9 }), job(3)]);
    assert.deepEqual(
      dupes.map((d) => [d.idx, d.lineNo, d.customId]),
      [[2, 9, 'req-0']],
    );
    assert.equal(await cp.total(), 3);
    assert.equal(await cp.lineOfCustomId('req-0'), 1, 'the first line keeps the id');
    const row = (await cp.job(0))!;
    assert.equal(row.state, 'pending');
    assert.equal(row.attempt, 0);
    assert.equal(row.idempotencyKey, 'key-0-a0');
    assert.equal(row.pollCount, 0);
    assert.equal(await cp.job(2), undefined);
  });

  test('invalid lines without a customId do not collide', async (t) => {
    const cp = openCp(t);
    const bad = (idx: number) =>
      job(idx, { customId: null, body: null, bodySha256: null, state: 'invalid', idempotencyKey: null, errorCode: 'invalid_line', errorMessage: 'bad json' });
    assert.deepEqual(await cp.insertJobs([bad(0), bad(1), job(2)]), []);
    assert.equal((await cp.counts()).invalid, 2);
    assert.equal((await cp.job(1))?.errorMessage, 'bad json');
  });
});

describe('apply', () => {
  test("'submitted' moves a pending job out to the server", async (t) => {
    const cp = await seeded(t, 2);
    const before = Date.now();
    await cp.apply([submitted(0)]);
    const row = (await cp.job(0))!;
    assert.equal(row.state, 'submitted');
    assert.equal(row.responseId, 'resp_0');
    assert.equal(row.apiStatus, 'queued');
    assert.equal(row.requestId, 'req_id_0');
    assert.equal(row.nextPollAtMs, 1_000);
    assert.ok(row.submittedAtMs! >= before);
    assert.equal((await cp.job(1))!.state, 'pending');
    assert.deepEqual((await cp.claimPending(10)).map((r) => r.idx), [1]);
  });

  test("'polled' records the status and the next poll", async (t) => {
    const cp = await seeded(t, 1, 1);
    await cp.apply([{ kind: 'polled', idx: 0, attempt: 0, apiStatus: 'in_progress', nextPollAtMs: 5_000 }]);
    await cp.apply([{ kind: 'polled', idx: 0, attempt: 0, apiStatus: 'in_progress', nextPollAtMs: 9_000 }]);
    const row = (await cp.job(0))!;
    assert.equal(row.state, 'submitted');
    assert.equal(row.apiStatus, 'in_progress');
    assert.equal(row.nextPollAtMs, 9_000);
    assert.equal(row.pollCount, 2);
  });

  test("'finished' reaches every end state from submitted", async (t) => {
    const ends = ['completed', 'failed', 'incomplete', 'cancelled', 'expired', 'invalid_output'] as const;
    const cp = await seeded(t, ends.length, ends.length);
    await cp.apply(ends.map((state, i) => finished(i, state)));
    for (const [i, state] of ends.entries()) {
      const row = (await cp.job(i))!;
      assert.equal(row.state, state);
      assert.equal(row.responseId, `resp_${i}`, 'a null responseId keeps the known one');
      assert.equal(row.requestId, `req_id_${i}`);
      assert.equal(row.apiStatus, state);
      assert.equal(row.statusCode, 200);
      assert.deepEqual(JSON.parse(row.result!), { id: `resp_${i}`, status: state });
      assert.equal(row.errorCode, state === 'completed' ? null : `${state}_code`);
      assert.equal(row.nextPollAtMs, null, 'no longer polled');
      assert.ok(row.finishedAtMs! > 0);
      assert.equal(row.pollCount, 1, 'the GET that saw it end counts as a poll');
    }
    assert.equal(await cp.nextPollAt(), null);
    assert.deepEqual(await cp.counts(), {
      pending: 0,
      submitted: 0,
      completed: 1,
      failed: 1,
      incomplete: 1,
      cancelled: 1,
      expired: 1,
      invalid: 0,
      invalid_output: 1,
      not_sent_budget: 0,
    });
  });

  test("'finished' straight from pending (synchronous endpoint, permanent submit error)", async (t) => {
    const cp = await seeded(t, 2);
    await cp.apply([
      finished(0, 'completed', { responseId: 'chatcmpl_0', requestId: 'r0' }),
      finished(1, 'failed', { statusCode: 400, result: null, errorCode: 'invalid_value', errorMessage: 'temperature too high' }),
    ]);
    assert.equal((await cp.job(0))!.state, 'completed');
    assert.equal((await cp.job(0))!.responseId, 'chatcmpl_0');
    assert.equal((await cp.job(0))!.pollCount, 0, 'no poll was made');
    const failed = (await cp.job(1))!;
    assert.deepEqual([failed.state, failed.statusCode, failed.errorCode, failed.errorMessage], [
      'failed',
      400,
      'invalid_value',
      'temperature too high',
    ]);
  });

  test('a job that was never out at the server cannot expire', async (t) => {
    const cp = await seeded(t, 1);
    await assert.rejects(cp.apply([finished(0, 'expired')]), StateTransitionError);
    assert.equal((await cp.job(0))!.state, 'pending');
  });
});

describe('lost-race guard', () => {
  test("applying 'submitted' twice throws and rolls back the whole transaction", async (t) => {
    const cp = await seeded(t, 3);
    await assert.rejects(
      cp.apply([submitted(1), submitted(0), submitted(0, { responseId: 'resp_dup' })], { posts: 3 }),
      (e: unknown) => {
        assert.ok(e instanceof StateTransitionError);
        assert.match(e.message, /job 0 \(line 1\): cannot apply "submitted" for attempt 0; it is submitted at attempt 0/);
        return true;
      },
    );
    for (const idx of [0, 1, 2]) assert.equal((await cp.job(idx))!.state, 'pending', `job ${idx}`);
    assert.equal((await cp.job(0))!.responseId, null);
    assert.deepEqual(await cp.counters(), {}, 'counters roll back with the updates');
  });

  test('an update for the wrong attempt throws', async (t) => {
    const cp = await seeded(t, 2, 1);
    await assert.rejects(cp.apply([submitted(1, { attempt: 1 })]), /attempt 1; it is pending at attempt 0/);
    await assert.rejects(cp.apply([{ kind: 'polled', idx: 0, attempt: 1, apiStatus: 'queued', nextPollAtMs: 1 }]), StateTransitionError);
    await assert.rejects(cp.apply([finished(0, 'completed', { attempt: 2 })]), StateTransitionError);
    assert.equal((await cp.job(0))!.state, 'submitted');
    assert.equal((await cp.job(1))!.state, 'pending');
  });

  test('no update leaves a terminal state, and polling needs a submitted job', async (t) => {
    const cp = await seeded(t, 2, 1);
    await cp.apply([finished(0, 'completed')]);
    await assert.rejects(cp.apply([finished(0, 'failed')]), StateTransitionError);
    await assert.rejects(cp.apply([submitted(0)]), StateTransitionError);
    await assert.rejects(cp.apply([{ kind: 'polled', idx: 0, attempt: 0, apiStatus: 'queued', nextPollAtMs: 1 }]), StateTransitionError);
    await assert.rejects(cp.apply([{ kind: 'polled', idx: 1, attempt: 0, apiStatus: 'queued', nextPollAtMs: 1 }]), /it is pending/);
    await assert.rejects(cp.apply([submitted(7)]), /job 7 \(line undefined\)/);
    assert.equal((await cp.job(0))!.state, 'completed');
  });
});

describe('claimDuePolls', () => {
  test('hands out only due, unclaimed submitted jobs, soonest first, up to limit', async (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const cp = openCp(t, file);
    await cp.insertJobs(Array.from({ length: 6 }, (_, i) => job(i)));
    await cp.apply([
      submitted(0, { nextPollAtMs: 300 }),
      submitted(1, { nextPollAtMs: 100 }),
      submitted(2, { nextPollAtMs: 200 }),
      submitted(3, { nextPollAtMs: 5_000 }),
      submitted(4, { nextPollAtMs: 150 }),
    ]);
    const idx = (rows: { idx: number }[]) => rows.map((r) => r.idx);
    assert.deepEqual(idx(await cp.claimDuePolls(150, 10)), [1, 4], 'due means nextPollAtMs <= now');
    assert.deepEqual(idx(await cp.claimDuePolls(99, 10)), []);
    await cp.release([1, 4]);
    assert.deepEqual(idx(await cp.claimDuePolls(1_000, 2)), [1, 4]);
    assert.deepEqual(idx(await cp.claimDuePolls(1_000, 1)), [2], 'a claimed job does not use up the limit');
    assert.deepEqual(idx(await cp.claimDuePolls(1_000, 10)), [0]);
    assert.deepEqual(idx(await cp.claimDuePolls(1_000, 10)), [], 'every due job is claimed');
    assert.equal(await cp.nextPollAt(), 100);
    // An applied update ends the claim.
    await cp.apply([{ kind: 'polled', idx: 1, attempt: 0, apiStatus: 'queued', nextPollAtMs: 500 }]);
    assert.deepEqual(idx(await cp.claimDuePolls(1_000, 10)), [1]);
    // Claims live in memory only: nothing is claimed in the file, so after a crash every job is due again.
    const reopened = openCp(t, file);
    assert.deepEqual(idx(await reopened.claimDuePolls(1_000, 10)), [4, 2, 0, 1]);
  });

  test('a finished job is no longer due', async (t) => {
    const cp = await seeded(t, 2, 2);
    await cp.apply([finished(0, 'completed')]);
    assert.deepEqual((await cp.claimDuePolls(Number.MAX_SAFE_INTEGER, 10)).map((r) => r.idx), [1]);
  });

  test('pending jobs are handed out once each, in input order, a page at a time', async (t) => {
    const cp = await seeded(t, 5, 1);
    const idx = (rows: { idx: number }[]) => rows.map((r) => r.idx);
    assert.deepEqual(idx(await cp.claimPending(2)), [1, 2]);
    assert.deepEqual(idx(await cp.claimPending(10)), [3, 4]);
    assert.deepEqual(idx(await cp.claimPending(10)), []);
  });
});

describe('requeueUnsuccessful', () => {
  test('moves every unsuccessful job back to pending with attempt + 1 and a new key', async (t) => {
    const cp = openCp(t);
    await cp.insertJobs([
      ...[0, 1, 2, 3, 4, 5].map((i) => job(i)),
      job(6, { customId: null, state: 'invalid', idempotencyKey: null, errorCode: 'invalid_line', errorMessage: 'bad' }),
    ]);
    await cp.apply([0, 1, 2, 3, 4].map((i) => submitted(i)));
    await cp.apply([
      finished(0, 'completed'),
      finished(1, 'failed'),
      finished(2, 'incomplete'),
      finished(3, 'cancelled'),
      finished(4, 'expired'),
    ]);
    const asked: unknown[] = [];
    const n = await cp.requeueUnsuccessful((j) => {
      asked.push({ ...j });
      return `new-${j.customId}-a${j.attempt}`;
    });
    assert.equal(n, 4);
    assert.deepEqual(asked, [1, 2, 3, 4].map((i) => ({ idx: i, customId: `req-${i}`, attempt: 1, bodySha256: `sha-${i}` })));
    for (const i of [1, 2, 3, 4]) {
      const row = (await cp.job(i))!;
      assert.equal(row.state, 'pending');
      assert.equal(row.attempt, 1);
      assert.equal(row.idempotencyKey, `new-req-${i}-a1`);
      for (const field of [
        'responseId',
        'apiStatus',
        'statusCode',
        'requestId',
        'result',
        'errorCode',
        'errorMessage',
        'submittedAtMs',
        'nextPollAtMs',
        'finishedAtMs',
      ] as const) {
        assert.equal(row[field], null, `job ${i} ${field}`);
      }
    }
    const done = (await cp.job(0))!;
    assert.deepEqual([done.state, done.attempt, done.idempotencyKey, done.responseId], ['completed', 0, 'key-0-a0', 'resp_0']);
    assert.equal((await cp.job(5))!.attempt, 0, 'a pending job is left alone');
    assert.equal((await cp.job(6))!.state, 'invalid', 'an invalid line is never retried');
    assert.equal(await cp.requeueUnsuccessful(() => 'unused'), 0, 'nothing left to requeue');

    // The old attempt's late updates are now refused; the new attempt goes through.
    await assert.rejects(cp.apply([submitted(1)]), /for attempt 0; it is pending at attempt 1/);
    await cp.apply([submitted(1, { attempt: 1, responseId: 'resp_1b' })]);
    assert.equal((await cp.job(1))!.responseId, 'resp_1b');
  });

  test('requeues more jobs than one page', async (t) => {
    const n = 2_345;
    const cp = await seeded(t, n);
    await cp.apply(Array.from({ length: n }, (_, i) => finished(i, 'failed')));
    assert.equal(await cp.requeueUnsuccessful((j) => `k-${j.customId}`), n);
    assert.equal((await cp.counts()).pending, n);
    assert.equal((await cp.job(n - 1))!.attempt, 1);
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

describe('counters and read-only access', () => {
  test('counters accumulate across applies, in the same transaction as the updates', async (t) => {
    const cp = await seeded(t, 1);
    await cp.apply([], { posts: 2, gets: 0 });
    await cp.apply([submitted(0)], { posts: 1, gets: 4 });
    await cp.apply([], { gets: 1 });
    assert.deepEqual(await cp.counters(), { posts: 3, gets: 5 });
  });

  test('a read-only open sees the data while the writer runs, and after', async (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const w = SqliteStore.open(file);
    await w.insertJobs([job(0), job(1)]);
    await w.apply([submitted(0)], { posts: 1 });
    const r = SqliteStore.open(file, { readonly: true });
    assert.equal(r.readonly, true);
    assert.equal(await r.total(), 2);
    assert.equal((await r.job(0))?.state, 'submitted');
    assert.deepEqual(await r.counters(), { posts: 1 });
    await assert.rejects(r.insertJobs([job(2)]), /opened read-only/);
    await assert.rejects(r.apply([submitted(1)]), /opened read-only/);
    // WAL: the reader sees commits made after it opened.
    await w.apply([finished(0, 'completed')]);
    assert.equal((await r.counts()).completed, 1);
    await r.close();
    await w.close();
    const after = SqliteStore.open(file, { readonly: true });
    t.after(() => after.close());
    assert.deepEqual(
      (await after.jobsPage(-1, 10)).map((row) => [row.idx, row.state]),
      [
        [0, 'completed'],
        [1, 'pending'],
      ],
    );
  });
});
