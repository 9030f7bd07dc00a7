import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { redactUrl } from '../src/checkpoint/postgres/pg-connection.ts';
import { PG_SCHEMA_VERSION } from '../src/checkpoint/postgres/pg-migrations.ts';
import { PostgresStore } from '../src/checkpoint/postgres/postgres-store.ts';
import { JOB_STATES } from '../src/checkpoint/job-states.ts';
import type { NewJob } from '../src/checkpoint/store.ts';
import { pgDatabaseFor, stopPostgres, withClient } from './helpers/postgres.ts';

after(stopPostgres);

const S = JOB_STATES;

function jobs(n: number, from = 0): NewJob[] {
  return Array.from({ length: n }, (_, i) => ({
    idx: from + i,
    lineNo: from + i + 1,
    customId: `c${from + i}`,
    url: '/v1/responses',
    body: JSON.stringify({ input: `q${from + i}` }),
    bodySha256: `h${from + i}`,
    completionWindow: 'asap',
    state: S.pending,
    idempotencyKey: `k${from + i}`,
  }));
}

const meta = (sha = 'sha-a') => ({
  inputPath: '/in.jsonl',
  inputBytes: 10,
  inputSha256: sha,
  namespace: 'default',
  keySalt: 'salt',
  keyFingerprint: 'fp',
  baseUrl: 'http://127.0.0.1:1',
  optionsJson: '{}',
  createdAtMs: Date.now(),
});

/** A loaded batch of `n` jobs and two workers joined to it, each with its own connection pool. */
async function fleet(url: string, n: number, ttlMs = 30_000) {
  const a = await PostgresStore.open(url);
  assert.equal(await a.createBatch(meta()), true);
  assert.deepEqual(await a.insertJobs(jobs(n)), []);
  await a.markLoaded(10, 'sha-a');
  const b = await PostgresStore.open(url, { batch: { inputSha256: 'sha-a', namespace: 'default' } });
  await a.acquireLease('worker-a', ttlMs);
  await b.acquireLease('worker-b', ttlMs);
  return { a, b, close: () => Promise.all([a.close(), b.close()]) };
}

test('two stores opening a fresh database at once migrate it once; a reopen is a no-op', async (t) => {
  const url = await pgDatabaseFor(t);
  const stores = await Promise.all([PostgresStore.open(url), PostgresStore.open(url), PostgresStore.open(url)]);
  await Promise.all(stores.map((s) => s.close()));
  await withClient(url, async (c) => {
    assert.equal((await c.query('SELECT version FROM sailbatch_schema')).rows[0].version, PG_SCHEMA_VERSION);
    await c.query('UPDATE sailbatch_schema SET version = version + 1');
  });
  await assert.rejects(PostgresStore.open(url), new RegExp(`schema v${PG_SCHEMA_VERSION + 1}, this build supports v${PG_SCHEMA_VERSION}; upgrade sailbatch`));
});

test('claims: concurrent workers get disjoint pages in input order; a claimed job is handed to no one else', async (t) => {
  const { a, b, close } = await fleet(await pgDatabaseFor(t), 100);
  t.after(close);
  const [pa, pb] = await Promise.all([a.claimPending(30), b.claimPending(30)]);
  const seen = [...pa, ...pb].map((j) => j.idx);
  assert.equal(new Set(seen).size, 60, 'no job claimed twice');
  assert.deepEqual(pa.map((j) => j.idx), [...pa.map((j) => j.idx)].sort((x, y) => x - y));
  assert.deepEqual([...seen].sort((x, y) => x - y), Array.from({ length: 60 }, (_, i) => i), 'the first 60 in input order');
  const rest = await a.claimPending(100);
  assert.deepEqual(rest.map((j) => j.idx), Array.from({ length: 40 }, (_, i) => 60 + i));
  assert.deepEqual(await b.claimPending(10), []);
  assert.equal(pa[0]!.body, JSON.stringify({ input: `q${pa[0]!.idx}` }));
});

test('claims: an expired claim is taken over; the first owner\'s late update is dropped, the second\'s lands', async (t) => {
  const ttlMs = 500;
  const { a, b, close } = await fleet(await pgDatabaseFor(t), 3, ttlMs);
  t.after(close);
  const claimedAt = Date.now();
  const [job] = await a.claimPending(1);
  assert.equal(job!.idx, 0);
  let taken = (await b.claimPending(1)).map((j) => j.idx);
  // Only a check within the time-to-live says anything (a loaded machine may come later).
  if (Date.now() - claimedAt < ttlMs) assert.deepEqual(taken, [1], 'a live claim is skipped');
  // Wait for the state, not a fixed time: b claims again until a's claim has expired.
  while (!taken.includes(0)) taken = (await b.claimPending(5)).map((j) => j.idx).concat(taken);
  const submitted = { kind: 'submitted' as const, idx: 0, attempt: 0, responseId: 'resp_b', apiStatus: 'pending', requestId: null, nextPollAtMs: 0 };
  assert.deepEqual(await b.apply([submitted]), { lost: [] });
  assert.deepEqual(await a.apply([{ ...submitted, responseId: 'resp_a' }], { posts: 1 }), { lost: [0] }, 'a lost job 0');
  const row = await a.job(0);
  assert.equal(row!.responseId, 'resp_b');
  assert.equal(row!.state, S.submitted);
  assert.equal((await a.counters())['posts'], 1, 'counters of a lost update still count');
  assert.equal((await a.counts())[S.submitted], 1);
});

test('a worker whose claims expired under it is not handed the jobs it holds again, until it writes or gives them back', async (t) => {
  // Claims that expire as they are made: a worker's own, when its heartbeat falls behind.
  const { a, close } = await fleet(await pgDatabaseFor(t), 8, -1);
  t.after(close);
  const first = (await a.claimPending(3)).map((j) => j.idx);
  assert.deepEqual(first, [0, 1, 2]);
  assert.deepEqual((await a.claimPending(3)).map((j) => j.idx), [3, 4, 5], 'not 0, 1 and 2 again');
  const now = Date.now();
  assert.deepEqual(await a.apply(first.map((idx) => ({ kind: 'submitted' as const, idx, attempt: 0, responseId: `r${idx}`, apiStatus: 'pending', requestId: null, nextPollAtMs: now }))), { lost: [] });
  assert.deepEqual((await a.claimDuePolls(now, 10)).map((j) => j.idx), [0, 1, 2], 'written, they are claimable again');
  assert.deepEqual(await a.claimDuePolls(now, 10), [], 'held again');
  await a.release([1]);
  assert.deepEqual((await a.claimDuePolls(now, 10)).map((j) => j.idx), [1], 'given back, it is claimable again');
  // The page that left job 0 out claimed it again for this worker: its update still lands.
  assert.deepEqual(await a.apply([{ kind: 'polled' as const, idx: 0, attempt: 0, apiStatus: 'in_progress', nextPollAtMs: now }]), { lost: [] });
  assert.equal((await a.job(0))!.pollCount, 1);
});

test('heartbeat extends a live worker\'s claims past their first expiry', async (t) => {
  const ttlMs = 1_000;
  const { a, b, close } = await fleet(await pgDatabaseFor(t), 2, ttlMs);
  t.after(close);
  const claimedAt = Date.now();
  assert.equal((await a.claimPending(2)).length, 2);
  // A check that ends within ttlMs of the heartbeat before it must find nothing to take, on any
  // machine. One that ends later (a loaded machine) proves nothing either way and is not counted;
  // the test goes on until three checks past the claims' first expiry have counted.
  for (let counted = 0; counted < 3; ) {
    const beatAt = Date.now();
    await a.heartbeat('worker-a');
    const taken = await b.claimPending(2);
    if (Date.now() - beatAt >= ttlMs) {
      if (taken.length > 0) return t.skip('the machine was too slow to beat within the claim time-to-live');
      continue;
    }
    assert.deepEqual(taken, [], 'b takes nothing while a beats');
    if (beatAt > claimedAt + ttlMs) counted++;
    await new Promise((r) => setTimeout(r, ttlMs / 4));
  }
});

test('due polls are claimed soonest first; finishing a job updates the per-state counts', async (t) => {
  const { a, b, close } = await fleet(await pgDatabaseFor(t), 4);
  t.after(close);
  const sent = await a.claimPending(4);
  const now = Date.now();
  await a.apply(sent.map((j, i) => ({ kind: 'submitted' as const, idx: j.idx, attempt: 0, responseId: `r${j.idx}`, apiStatus: 'pending', requestId: null, nextPollAtMs: now - 10 * i })));
  assert.equal(await a.nextPollAt(), now - 30);
  const due = await b.claimDuePolls(now, 2);
  assert.deepEqual(due.map((j) => j.idx).sort(), [2, 3]);
  assert.equal(due[0]!.responseId, `r${due[0]!.idx}`);
  assert.deepEqual(await a.claimDuePolls(now, 10).then((r) => r.map((j) => j.idx).sort()), [0, 1]);
  await b.apply(due.map((j) => ({ kind: 'finished' as const, idx: j.idx, attempt: 0, state: S.completed, responseId: j.responseId, apiStatus: 'completed',
    statusCode: 200, requestId: null, result: JSON.stringify({ usage: { input_tokens: 3, output_tokens: 4 } }), tokens: { input: 3, output: 4, cached: 0, reasoning: 0 }, parsed: null, errorCode: null, errorMessage: null })));
  const counts = await a.counts();
  assert.equal(counts[S.completed], 2);
  assert.equal(counts[S.submitted], 2);
  assert.equal(counts[S.pending], 0);
  const summary = await a.snapshot((r) => r.summary());
  assert.deepEqual(summary.tokens, { input: 6, output: 8, cached: 0, reasoning: 0 });
  assert.equal(summary.unfinished, 2);
  assert.equal(summary.polls.total, 2);
});

test('one database holds many batches; each sees only its own jobs and counts', async (t) => {
  const url = await pgDatabaseFor(t);
  const one = await PostgresStore.open(url);
  const two = await PostgresStore.open(url);
  t.after(() => Promise.all([one.close(), two.close()]));
  await one.createBatch(meta('sha-1'));
  await two.createBatch(meta('sha-2'));
  assert.notEqual(one.id, two.id);
  await one.insertJobs(jobs(5));
  const dupes = await two.insertJobs([...jobs(3), { ...jobs(1, 3)[0]!, customId: 'c0' }]);
  assert.deepEqual(dupes.map((d) => d.idx), [3], 'custom_id is unique per batch, not per database');
  assert.equal(await one.total(), 5);
  assert.equal(await two.total(), 3);
  await one.acquireLease('w', 30_000);
  assert.equal((await one.claimPending(10)).length, 5);
  await two.destroy();
  assert.equal(await one.total(), 5);
});

test('a password in the URL is never shown', () => {
  assert.equal(redactUrl('postgres://u:s3cret@db.example:5432/sb'), 'postgres://u:***@db.example:5432/sb');
  assert.equal(redactUrl('postgres://db.example/sb'), 'postgres://db.example/sb');
});

test('a wrong password is reported without the password, with the fix', async (t) => {
  const url = new URL(await pgDatabaseFor(t));
  url.password = 'wrong-pass-xyz';
  await assert.rejects(PostgresStore.open(url.toString()), (e: Error) => {
    assert.doesNotMatch(e.message, /wrong-pass-xyz/);
    assert.match(e.message, /:\*\*\*@127\.0\.0\.1.*refused the user or password; put them in the URL or in PGPASSWORD/);
    return true;
  });
});

test('shared budget: live workers never hold more than the batch concurrency together; shares even out; a 429 reaches all', async (t) => {
  const url = await pgDatabaseFor(t);
  const first = await PostgresStore.open(url);
  await first.createBatch({ ...meta(), optionsJson: JSON.stringify({ concurrency: 10, maxRequestsPerSecond: 40 }) });
  const stores = [first, ...(await Promise.all([1, 2, 3].map(() => PostgresStore.open(url, { batch: { id: first.id! } }))))];
  t.after(() => Promise.all(stores.map((s) => s.close())));
  const owners = ['w0', 'w1', 'w2', 'w3'];
  await stores[0]!.acquireLease('w0', 60_000);
  const inFlight = [10, 0, 0, 0];
  assert.equal((await stores[0]!.budget!.renew('w0', 0)).concurrency, 10, 'alone, a worker has the whole budget');
  for (let i = 1; i < 4; i++) await stores[i]!.acquireLease(owners[i]!, 60_000);
  const history: number[][] = [];
  for (let round = 0; round < 4; round++) {
    const shares: number[] = [];
    for (let i = 0; i < 4; i++) {
      const share = await stores[i]!.budget!.renew(owners[i]!, inFlight[i]!);
      shares.push(share.concurrency);
      inFlight[i] = Math.min(inFlight[i]!, share.concurrency) || share.concurrency; // requests drain to the share, then fill it
      assert.ok(inFlight.reduce((a, b) => a + b, 0) <= 10, `round ${round}: in flight ${inFlight} exceeds 10`);
    }
    history.push(shares);
  }
  assert.deepEqual(history.at(-1), [3, 3, 2, 2], `shares even out (${JSON.stringify(history)})`);
  const before = await stores[1]!.budget!.renew('w1', 3);
  const until = Date.now() + 5_000;
  await stores[0]!.budget!.rateLimited(until);
  const after = await stores[3]!.budget!.renew('w3', 2);
  assert.equal(after.rateLimits, before.rateLimits + 1);
  assert.ok(after.pausedUntilMs >= until, 'every worker pauses until the time the 429 asked for');
  assert.equal(after.maxPerSecond, 8, 'requests per second follow the concurrency share');
});
