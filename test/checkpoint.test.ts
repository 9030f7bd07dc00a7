import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { Checkpoint, type JobUpdate, type NewJob } from '../src/checkpoint/checkpoint.ts';
import { CheckpointBusyError, CheckpointError, StateTransitionError } from '../src/errors.ts';
import { testDir } from './helpers/tmp.ts';

function openCp(t: TestContext, file = join(testDir(t), 'cp.sqlite')): Checkpoint {
  const cp = Checkpoint.open(file);
  t.after(() => cp.close());
  return cp;
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
function seeded(t: TestContext, n: number, submit = 0): Checkpoint {
  const cp = openCp(t);
  assert.deepEqual(cp.insertJobs(Array.from({ length: n }, (_, i) => job(i))), []);
  if (submit) cp.apply(Array.from({ length: submit }, (_, i) => submitted(i)));
  return cp;
}

describe('opening', () => {
  test('WAL, synchronous set after the switch, busy timeout and foreign keys', (t) => {
    const cp = openCp(t);
    assert.equal(cp.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(cp.db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
    assert.equal(cp.db.pragma('busy_timeout', { simple: true }), 5000);
    assert.equal(cp.db.pragma('foreign_keys', { simple: true }), 1);
  });

  test('reopening keeps the data', (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const a = Checkpoint.open(file);
    a.insertJobs([job(0), job(1)]);
    a.close();
    const b = openCp(t, file);
    assert.equal(b.total(), 2);
    assert.equal(b.job(1)?.custom_id, 'req-1');
  });
});

describe('insertJobs', () => {
  test('stores jobs as pending at attempt 0 and reports duplicate custom_ids', (t) => {
    const cp = openCp(t);
    const dupes = cp.insertJobs([job(0), job(1), job(2, { customId: 'req-0', lineNo: 9 }), job(3)]);
    assert.deepEqual(
      dupes.map((d) => [d.idx, d.lineNo, d.customId]),
      [[2, 9, 'req-0']],
    );
    assert.equal(cp.total(), 3);
    assert.equal(cp.lineOfCustomId('req-0'), 1, 'the first line keeps the id');
    const row = cp.job(0)!;
    assert.equal(row.state, 'pending');
    assert.equal(row.attempt, 0);
    assert.equal(row.idempotency_key, 'key-0-a0');
    assert.equal(row.poll_count, 0);
    assert.equal(cp.job(2), undefined);
  });

  test('invalid lines without a custom_id do not collide', (t) => {
    const cp = openCp(t);
    const bad = (idx: number) =>
      job(idx, { customId: null, body: null, bodySha256: null, state: 'invalid', idempotencyKey: null, errorCode: 'invalid_line', errorMessage: 'bad json' });
    assert.deepEqual(cp.insertJobs([bad(0), bad(1), job(2)]), []);
    assert.equal(cp.counts().invalid, 2);
    assert.equal(cp.job(1)?.error_message, 'bad json');
  });
});

describe('apply', () => {
  test("'submitted' moves a pending job out to the server", (t) => {
    const cp = seeded(t, 2);
    const before = Date.now();
    cp.apply([submitted(0)]);
    const row = cp.job(0)!;
    assert.equal(row.state, 'submitted');
    assert.equal(row.response_id, 'resp_0');
    assert.equal(row.api_status, 'queued');
    assert.equal(row.request_id, 'req_id_0');
    assert.equal(row.next_poll_at_ms, 1_000);
    assert.ok(row.submitted_at_ms! >= before);
    assert.equal(cp.job(1)!.state, 'pending');
    assert.deepEqual(cp.pendingAfter(-1, 10).map((r) => r.idx), [1]);
  });

  test("'polled' records the status and the next poll", (t) => {
    const cp = seeded(t, 1, 1);
    cp.apply([{ kind: 'polled', idx: 0, attempt: 0, apiStatus: 'in_progress', nextPollAtMs: 5_000 }]);
    cp.apply([{ kind: 'polled', idx: 0, attempt: 0, apiStatus: 'in_progress', nextPollAtMs: 9_000 }]);
    const row = cp.job(0)!;
    assert.equal(row.state, 'submitted');
    assert.equal(row.api_status, 'in_progress');
    assert.equal(row.next_poll_at_ms, 9_000);
    assert.equal(row.poll_count, 2);
  });

  test("'finished' reaches every end state from submitted", (t) => {
    const ends = ['completed', 'failed', 'incomplete', 'cancelled', 'expired', 'invalid_output'] as const;
    const cp = seeded(t, ends.length, ends.length);
    cp.apply(ends.map((state, i) => finished(i, state)));
    ends.forEach((state, i) => {
      const row = cp.job(i)!;
      assert.equal(row.state, state);
      assert.equal(row.response_id, `resp_${i}`, 'a null responseId keeps the known one');
      assert.equal(row.request_id, `req_id_${i}`);
      assert.equal(row.api_status, state);
      assert.equal(row.status_code, 200);
      assert.deepEqual(JSON.parse(row.result!), { id: `resp_${i}`, status: state });
      assert.equal(row.error_code, state === 'completed' ? null : `${state}_code`);
      assert.equal(row.next_poll_at_ms, null, 'no longer polled');
      assert.ok(row.finished_at_ms! > 0);
      assert.equal(row.poll_count, 1, 'the GET that saw it end counts as a poll');
    });
    assert.equal(cp.nextPollAt(), null);
    assert.deepEqual(cp.counts(), {
      pending: 0,
      submitted: 0,
      completed: 1,
      failed: 1,
      incomplete: 1,
      cancelled: 1,
      expired: 1,
      invalid: 0,
      invalid_output: 1,
    });
  });

  test("'finished' straight from pending (synchronous endpoint, permanent submit error)", (t) => {
    const cp = seeded(t, 2);
    cp.apply([
      finished(0, 'completed', { responseId: 'chatcmpl_0', requestId: 'r0' }),
      finished(1, 'failed', { statusCode: 400, result: null, errorCode: 'invalid_value', errorMessage: 'temperature too high' }),
    ]);
    assert.equal(cp.job(0)!.state, 'completed');
    assert.equal(cp.job(0)!.response_id, 'chatcmpl_0');
    assert.equal(cp.job(0)!.poll_count, 0, 'no poll was made');
    const failed = cp.job(1)!;
    assert.deepEqual([failed.state, failed.status_code, failed.error_code, failed.error_message], [
      'failed',
      400,
      'invalid_value',
      'temperature too high',
    ]);
  });

  test('a job that was never out at the server cannot expire', (t) => {
    const cp = seeded(t, 1);
    assert.throws(() => cp.apply([finished(0, 'expired')]), StateTransitionError);
    assert.equal(cp.job(0)!.state, 'pending');
  });
});

describe('lost-race guard', () => {
  test("applying 'submitted' twice throws and rolls back the whole transaction", (t) => {
    const cp = seeded(t, 3);
    assert.throws(
      () => cp.apply([submitted(1), submitted(0), submitted(0, { responseId: 'resp_dup' })], { posts: 3 }),
      (e: unknown) => {
        assert.ok(e instanceof StateTransitionError);
        assert.match(e.message, /job 0 \(line 1\): cannot apply "submitted" for attempt 0; it is submitted at attempt 0/);
        return true;
      },
    );
    for (const idx of [0, 1, 2]) assert.equal(cp.job(idx)!.state, 'pending', `job ${idx}`);
    assert.equal(cp.job(0)!.response_id, null);
    assert.deepEqual(cp.counters(), {}, 'counters roll back with the updates');
  });

  test('an update for the wrong attempt throws', (t) => {
    const cp = seeded(t, 2, 1);
    assert.throws(() => cp.apply([submitted(1, { attempt: 1 })]), /attempt 1; it is pending at attempt 0/);
    assert.throws(() => cp.apply([{ kind: 'polled', idx: 0, attempt: 1, apiStatus: 'queued', nextPollAtMs: 1 }]), StateTransitionError);
    assert.throws(() => cp.apply([finished(0, 'completed', { attempt: 2 })]), StateTransitionError);
    assert.equal(cp.job(0)!.state, 'submitted');
    assert.equal(cp.job(1)!.state, 'pending');
  });

  test('no update leaves a terminal state, and polling needs a submitted job', (t) => {
    const cp = seeded(t, 2, 1);
    cp.apply([finished(0, 'completed')]);
    assert.throws(() => cp.apply([finished(0, 'failed')]), StateTransitionError);
    assert.throws(() => cp.apply([submitted(0)]), StateTransitionError);
    assert.throws(() => cp.apply([{ kind: 'polled', idx: 0, attempt: 0, apiStatus: 'queued', nextPollAtMs: 1 }]), StateTransitionError);
    assert.throws(() => cp.apply([{ kind: 'polled', idx: 1, attempt: 0, apiStatus: 'queued', nextPollAtMs: 1 }]), /it is pending/);
    assert.throws(() => cp.apply([submitted(7)]), /job 7 \(line undefined\)/);
    assert.equal(cp.job(0)!.state, 'completed');
  });
});

describe('duePolls', () => {
  test('hands out only due, not-busy submitted jobs, soonest first, up to take', (t) => {
    const cp = seeded(t, 6);
    cp.apply([
      submitted(0, { nextPollAtMs: 300 }),
      submitted(1, { nextPollAtMs: 100 }),
      submitted(2, { nextPollAtMs: 200 }),
      submitted(3, { nextPollAtMs: 5_000 }),
      submitted(4, { nextPollAtMs: 150 }),
    ]);
    const idx = (rows: { idx: number }[]) => rows.map((r) => r.idx);
    assert.deepEqual(idx(cp.duePolls(1_000, 10, () => false)), [1, 4, 2, 0]);
    assert.deepEqual(idx(cp.duePolls(1_000, 2, () => false)), [1, 4]);
    assert.deepEqual(idx(cp.duePolls(1_000, 2, (i) => i === 1)), [4, 2], 'a busy job does not use up take');
    assert.deepEqual(idx(cp.duePolls(150, 10, () => false)), [1, 4], 'due means next_poll_at_ms <= now');
    assert.deepEqual(idx(cp.duePolls(99, 10, () => false)), []);
    assert.equal(cp.nextPollAt(), 100);
    // In-flight tracking is the caller's: nothing is claimed in the file, so a crash leaves
    // every job due again.
    assert.deepEqual(idx(cp.duePolls(1_000, 10, () => false)), [1, 4, 2, 0]);
  });

  test('a finished job is no longer due', (t) => {
    const cp = seeded(t, 2, 2);
    cp.apply([finished(0, 'completed')]);
    assert.deepEqual(cp.duePolls(Number.MAX_SAFE_INTEGER, 10, () => false).map((r) => r.idx), [1]);
  });
});

describe('requeueUnsuccessful', () => {
  test('moves every unsuccessful job back to pending with attempt + 1 and a new key', (t) => {
    const cp = openCp(t);
    cp.insertJobs([
      ...[0, 1, 2, 3, 4, 5].map((i) => job(i)),
      job(6, { customId: null, state: 'invalid', idempotencyKey: null, errorCode: 'invalid_line', errorMessage: 'bad' }),
    ]);
    cp.apply([0, 1, 2, 3, 4].map((i) => submitted(i)));
    cp.apply([
      finished(0, 'completed'),
      finished(1, 'failed'),
      finished(2, 'incomplete'),
      finished(3, 'cancelled'),
      finished(4, 'expired'),
    ]);
    const asked: unknown[] = [];
    const n = cp.requeueUnsuccessful((j) => {
      asked.push({ ...j });
      return `new-${j.custom_id}-a${j.attempt}`;
    });
    assert.equal(n, 4);
    assert.deepEqual(asked, [1, 2, 3, 4].map((i) => ({ idx: i, custom_id: `req-${i}`, attempt: 1, body_sha256: `sha-${i}` })));
    for (const i of [1, 2, 3, 4]) {
      const row = cp.job(i)!;
      assert.equal(row.state, 'pending');
      assert.equal(row.attempt, 1);
      assert.equal(row.idempotency_key, `new-req-${i}-a1`);
      for (const field of [
        'response_id',
        'api_status',
        'status_code',
        'request_id',
        'result',
        'error_code',
        'error_message',
        'submitted_at_ms',
        'next_poll_at_ms',
        'finished_at_ms',
      ] as const) {
        assert.equal(row[field], null, `job ${i} ${field}`);
      }
    }
    const done = cp.job(0)!;
    assert.deepEqual([done.state, done.attempt, done.idempotency_key, done.response_id], ['completed', 0, 'key-0-a0', 'resp_0']);
    assert.equal(cp.job(5)!.attempt, 0, 'a pending job is left alone');
    assert.equal(cp.job(6)!.state, 'invalid', 'an invalid line is never retried');
    assert.equal(cp.requeueUnsuccessful(() => 'unused'), 0, 'nothing left to requeue');

    // The old attempt's late updates are now refused; the new attempt goes through.
    assert.throws(() => cp.apply([submitted(1)]), /for attempt 0; it is pending at attempt 1/);
    cp.apply([submitted(1, { attempt: 1, responseId: 'resp_1b' })]);
    assert.equal(cp.job(1)!.response_id, 'resp_1b');
  });

  test('requeues more jobs than one page', (t) => {
    const n = 2_345;
    const cp = seeded(t, n);
    cp.apply(Array.from({ length: n }, (_, i) => finished(i, 'failed')));
    assert.equal(cp.requeueUnsuccessful((j) => `k-${j.custom_id}`), n);
    assert.equal(cp.counts().pending, n);
    assert.equal(cp.job(n - 1)!.attempt, 1);
  });
});

describe('lease', () => {
  test('the owner takes and renews it; another run is refused while it is fresh', (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const a = openCp(t, file);
    const b = openCp(t, file);
    a.acquireLease('run-a', 60_000);
    assert.deepEqual({ ...a.lease(), heartbeatMs: 0 }, { owner: 'run-a', pid: process.pid, host: hostname(), heartbeatMs: 0 });
    a.acquireLease('run-a', 60_000);
    assert.equal(a.heartbeat('run-a'), true);
    assert.throws(
      () => b.acquireLease('run-b', 60_000),
      (e: unknown) => {
        assert.ok(e instanceof CheckpointBusyError);
        assert.ok(e instanceof CheckpointError);
        assert.match(e.message, new RegExp(`in use by another run \\(pid ${process.pid} on `));
        return true;
      },
    );
    assert.equal(b.lease()?.owner, 'run-a');
    b.releaseLease('run-b');
    assert.equal(b.lease()?.owner, 'run-a', 'only the owner releases');
    a.releaseLease('run-a');
    assert.equal(b.lease(), undefined);
    b.acquireLease('run-b', 60_000);
    assert.equal(a.lease()?.owner, 'run-b');
  });

  test('a stale lease is taken over, and its old owner learns so on its next heartbeat', (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const a = openCp(t, file);
    const b = openCp(t, file);
    a.acquireLease('run-a', 60_000);
    a.db.prepare('UPDATE lease SET heartbeat_ms = ?').run(Date.now() - 61_000);
    b.acquireLease('run-b', 60_000);
    assert.equal(b.lease()?.owner, 'run-b');
    assert.equal(a.heartbeat('run-a'), false);
    assert.equal(b.heartbeat('run-b'), true);
  });

  test('a fresh lease of a process of this machine that has exited is taken over', (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const cp = openCp(t, file);
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    cp.db
      .prepare('INSERT INTO lease (id, owner, pid, host, heartbeat_ms) VALUES (1, ?, ?, ?, ?)')
      .run('run-dead', gone, hostname(), Date.now());
    cp.acquireLease('run-b', 60_000);
    assert.equal(cp.lease()?.owner, 'run-b');
  });
});

describe('counters and read-only access', () => {
  test('counters accumulate across applies, in the same transaction as the updates', (t) => {
    const cp = seeded(t, 1);
    cp.apply([], { posts: 2, gets: 0 });
    cp.apply([submitted(0)], { posts: 1, gets: 4 });
    cp.apply([], { gets: 1 });
    assert.deepEqual(cp.counters(), { posts: 3, gets: 5 });
  });

  test('a read-only open sees the data while the writer runs, and after', (t) => {
    const file = join(testDir(t), 'cp.sqlite');
    const w = Checkpoint.open(file);
    w.insertJobs([job(0), job(1)]);
    w.apply([submitted(0)], { posts: 1 });
    const r = Checkpoint.open(file, { readonly: true });
    assert.equal(r.readonly, true);
    assert.equal(r.total(), 2);
    assert.equal(r.job(0)?.state, 'submitted');
    assert.deepEqual(r.counters(), { posts: 1 });
    assert.throws(() => r.insertJobs([job(2)]), /opened read-only/);
    assert.throws(() => r.apply([submitted(1)]), /opened read-only/);
    // WAL: the reader sees commits made after it opened.
    w.apply([finished(0, 'completed')]);
    assert.equal(r.counts().completed, 1);
    r.close();
    w.close();
    const after = Checkpoint.open(file, { readonly: true });
    t.after(() => after.close());
    assert.deepEqual(
      [...after.jobsInOrder()].map((row) => [row.idx, row.state]),
      [
        [0, 'completed'],
        [1, 'pending'],
      ],
    );
  });
});
