import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bodySha256, idempotencyKey } from '../src/api/idempotency-key.ts';
import { JOB_STATES, TRANSITIONS, type JobState } from '../src/checkpoint/job-states.ts';
import type { BatchStore, JobUpdate } from '../src/checkpoint/store.ts';
import { StateTransitionError } from '../src/errors.ts';
import { loadJobs } from '../src/input/loader.ts';
import { RequestLineSource } from '../src/input/request-lines.ts';
import type { PlanOptions } from '../src/input/request-plan.ts';
import { stopPostgres } from './helpers/postgres.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL } from './helpers/workload.ts';
import {
  STORE_KINDS,
  batchMeta,
  claimAndApply,
  claimEverything,
  finished,
  newJob,
  polled,
  seed,
  storeFor,
  submitted,
  type Finished,
} from './helpers/stores.ts';

// The store contract, part one: loading, claims, every update and transition, the guards, due
// polls and the retry path. The same cases run against the SQLite store and the PostgreSQL
// store; where they may differ (SQLite's one runner never loses a claim) the interface says so.

after(stopPostgres);

const S = JOB_STATES;
const idxs = (rows: readonly { idx: number }[]) => rows.map((r) => r.idx);
/** The end states an update may write ('finished'), in TRANSITIONS order. */
const END_STATES = Object.values(S).filter((s): s is Finished['state'] => s !== S.pending && s !== S.submitted && s !== S.invalid);

/** `updates` are refused as a whole: StateTransitionError, and the jobs are as they were. */
async function assertRefused(store: BatchStore, updates: JobUpdate[], message?: RegExp): Promise<void> {
  const before = await Promise.all(updates.map((u) => store.job(u.idx)));
  await assert.rejects(store.apply(updates, { posts: 1 }), (e: unknown) => {
    assert.ok(e instanceof StateTransitionError, String(e));
    if (message) assert.match(e.message, message);
    return true;
  });
  assert.deepEqual(await Promise.all(updates.map((u) => store.job(u.idx))), before);
}

/**
 * Lines whose canonical text takes each path of bodySha256: keys out of order at every depth, an
 * array-index-like key, unicode and a lone surrogate, numbers JSON writes differently from how a
 * line may, an own `__proto__` key and -0, an Anthropic line, and a body with fields filled in.
 */
function pinnedSource(t: TestContext, workers: number, plan?: PlanOptions, hashBodies?: boolean): RequestLineSource {
  const file = join(testDir(t), 'in.jsonl');
  writeFileSync(
    file,
    [
      '{"custom_id":"p-1","method":"POST","url":"/v1/responses","body":{"model":"m/x","input":[{"role":"user","content":"hi"}],"text":{"format":{"type":"json_schema","name":"r","schema":{"type":"object","properties":{"zeta":{"type":"string"},"alpha":{"type":"number"}}}}}}}',
      '{"custom_id":"p-2","input":"caf\\u00e9 \u00e9 \ud83d\ude00 \\ud800 tab\\t","metadata":{"10":"ten","9":"nine","b":"x"}}',
      '{"custom_id":"p-3","input":"n","temperature":1.50,"top_p":1e-1,"max_output_tokens":64,"metadata":{"completion_window":"asap"}}',
      '{"custom_id":"p-4","params":{"max_tokens":16,"model":"m/y","messages":[{"content":"a","role":"user"}]}}',
      '{"custom_id":"p-5","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"c"}],"model":"m/z"}}',
      '{"custom_id":"p-6","input":"d","temperature":-0,"metadata":{"__proto__":"x","a":"y"}}',
    ].join('\n'),
  );
  return new RequestLineSource(file, { defaults: { completionWindow: '24h', model: MODEL }, plan, hashBodies }, 1 << 20, workers);
}

for (const kind of STORE_KINDS) {
  describe(`store contract (${kind}): loading and claims`, () => {
    test('a new batch keeps its record; markLoaded records the final size and digest', async (t) => {
      const { store } = await storeFor(kind, t);
      const meta = batchMeta();
      assert.deepEqual(await store.batch(), { ...meta, loadedAtMs: null });
      const before = Date.now();
      await store.markLoaded(1234, 'sha-final');
      const loaded = (await store.batch())!;
      assert.equal(loaded.inputBytes, 1234);
      assert.equal(loaded.inputSha256, 'sha-final');
      assert.ok(loaded.loadedAtMs! >= before);
    });

    test('insertJobs stores pending jobs at attempt 0 and reports duplicate customIds', async (t) => {
      const { store } = await storeFor(kind, t);
      const dupes = await store.insertJobs([
        newJob(0, { sourceRow: '{"a":1}', model: 'model-a', sample: 2 }),
        newJob(1),
        newJob(2, { customId: 'req-0', lineNo: 9 }),
        newJob(3),
      ]);
      assert.deepEqual(dupes.map((d) => [d.idx, d.lineNo, d.customId]), [[2, 9, 'req-0']]);
      assert.equal(await store.total(), 3);
      assert.equal(await store.lineOfCustomId('req-0'), 1, 'the first line keeps the id');
      assert.equal(await store.lineOfCustomId('nobody'), undefined);
      assert.equal(await store.job(2), undefined);
      const row = (await store.job(0))!;
      assert.ok(row.updatedAtMs > 0);
      assert.deepEqual({ ...row, updatedAtMs: 0 }, {
        idx: 0, lineNo: 1, customId: 'req-0', url: '/v1/responses', body: newJob(0).body, bodySha256: 'sha-0', completionWindow: '24h',
        state: S.pending, attempt: 0, idempotencyKey: 'key-0-a0', responseId: null, apiStatus: null, statusCode: null, requestId: null,
        result: null, errorCode: null, errorMessage: null, parsed: null, sourceRow: '{"a":1}', model: 'model-a', sample: 2,
        submittedAtMs: null, nextPollAtMs: null, pollCount: 0, finishedAtMs: null, updatedAtMs: 0,
      });
    });

    test('duplicates among hundreds of jobs in one insert are each reported, and only they are left out', async (t) => {
      const { store } = await storeFor(kind, t);
      // Repeats of an earlier insert's id, of an id earlier in the same page, and twice in a row, spread over several pages of rows.
      const repeats = new Map([[57, 'req-3'], [58, 'req-3'], [120, 'req-100'], [121, 'req-120'], [249, 'req-0']]);
      assert.deepEqual(await store.insertJobs([newJob(0), newJob(1), newJob(2), newJob(3)]), []);
      const jobs = Array.from({ length: 246 }, (_, i) => i + 4).map((idx) => newJob(idx, { customId: repeats.get(idx) ?? `req-${idx}`, lineNo: idx + 1 }));
      const dupes = await store.insertJobs(jobs);
      assert.deepEqual(dupes.map((d) => [d.idx, d.customId]), [[57, 'req-3'], [58, 'req-3'], [120, 'req-100'], [249, 'req-0']]);
      assert.equal(await store.total(), 250 - 4);
      assert.equal((await store.counts()).pending, 246);
      assert.equal(await store.job(57), undefined);
      assert.equal((await store.job(121))?.customId, 'req-120', 'an id free when its line comes is stored, even under another line number');
      assert.equal(await store.lineOfCustomId('req-100'), 101);
    });

    test('a loaded file\'s jobs are read with their first attempt\'s key, by the writer and by a reader; invalid lines have none', async (t) => {
      const { store, openReader } = await storeFor(kind, t, batchMeta({ namespace: 'ns-derived' }));
      const file = join(testDir(t), 'in.jsonl');
      writeFileSync(
        file,
        [
          { custom_id: 'a', method: 'POST', url: '/v1/responses', body: { model: MODEL, input: 'one' } },
          { custom_id: 'b', input: 'two' },
          { custom_id: 'a', input: 'three' },
          { custom_id: 'c', input: 3 },
        ]
          .map((l) => JSON.stringify(l))
          .join('\n'),
      );
      const source = new RequestLineSource(file, { defaults: { completionWindow: '24h', model: MODEL } }, 1 << 20, 0);
      await loadJobs(store, source, { skipInvalid: true });
      // What the key must be: the documented derivation from the line's body as stored (and sent).
      const keyOf = (customId: string, body: string, attempt = 0) => idempotencyKey({ namespace: 'ns-derived', customId, attempt, bodySha256: bodySha256(JSON.parse(body)) });
      const [a, b] = [(await store.job(0))!, (await store.job(1))!];
      const expected = [keyOf('a', a.body!), keyOf('b', b.body!), null, null];
      for (const s of [store, await openReader()]) {
        assert.deepEqual((await s.resultsPage(-1, 10)).map((r) => r.idempotencyKey), expected);
        assert.deepEqual(await Promise.all([0, 1, 2, 3].map(async (i) => (await s.job(i))!.idempotencyKey)), expected);
      }
      assert.deepEqual((await store.claimPending(10)).map((j) => [j.idx, j.idempotencyKey]), [[0, expected[0]], [1, expected[1]]]);
      await store.release([0, 1]);
      await claimAndApply(store, [finished(1, S.failed)]);
      assert.equal(await store.requeueUnsuccessful((j) => idempotencyKey({ namespace: 'ns-derived', ...j })), 1);
      assert.equal((await store.job(1))!.idempotencyKey, keyOf('b', b.body!, 1), 'a requeued job has its next attempt\'s key');
      assert.equal((await store.job(0))!.idempotencyKey, expected[0]);
    });

    test('the keys of a loaded file are the ones every earlier version derived from the same lines', async (t) => {
      const { store } = await storeFor(kind, t, batchMeta({ namespace: 'ns-pinned' }));
      await loadJobs(store, pinnedSource(t, 0), { skipInvalid: false });
      // Derived by sailbatch 08414a6, which hashed each body as an object while loading: a
      // change here would make a rerun of the same file pay for every line again.
      assert.deepEqual((await store.claimPending(10)).map((j) => j.idempotencyKey), [
        'sailbatch-v1-2lsu5yqLqLXseDFvCBCCSC4KgdsPYswDxHVAb6n6zBE-a0',
        'sailbatch-v1-x846FESuDGioxyvQSzQJMXqHB17OFJeOEn4VBFK3zZk-a0',
        'sailbatch-v1-rI00V8-z9VTZqwGE1SDNMqGfjvcAS5xCnDMBrBsjwqI-a0',
        'sailbatch-v1-ggJ5RKGgTpREpzdlBwSn-v9UOhXRL49zw7eIwqhuvfQ-a0',
        'sailbatch-v1-IJ2IpD2NQAeMT-BIKTHxJqzdPR7GVq4LjVI56K3pT-0-a0',
        'sailbatch-v1-WovhpsDgw9XFbXdGMreX8GPXmN9h7V5GeY79IPLNWJU-a0',
      ]);
    });

    test('so are those of its fan-out through a validation worker that hashes the bodies, with a schema and a prompt-cache key', async (t) => {
      const { store } = await storeFor(kind, t, batchMeta({ namespace: 'ns-pinned' }));
      const plan = { schema: { name: 'label', schema: { type: 'object', properties: { why: { type: 'string' }, label: { type: 'string' } } } }, promptCacheKey: 'pc', models: ['m/a', 'm/b'], samples: 2 };
      await loadJobs(store, pinnedSource(t, 1, plan, true), { skipInvalid: false });
      const keys = (await store.claimPending(100)).map((j) => j.idempotencyKey);
      assert.equal(keys.length, 24);
      // The worker hashed them: SQLite, which derives a missing hash only where it is needed, stored these.
      if (kind === 'sqlite') assert.ok((await store.jobsPage(-1, 100)).every((j) => j.bodySha256 !== null));
      // The 24 keys 08414a6 derived, as one digest.
      assert.equal(createHash('sha256').update(keys.join('\n')).digest('hex'), 'eb0955041f0f481c300dc6270f109b69dbf29f3d71c99090c1db3aea30cc3b75');
    });

    test('a job stored with its body\'s hash, as loaded before v8, has its key derived from that hash', async (t) => {
      const { store, openReader } = await storeFor(kind, t, batchMeta({ namespace: 'ns-stored' }));
      await store.insertJobs([newJob(0, { idempotencyKey: null, bodySha256: 'sha-as-stored' }), newJob(1, { idempotencyKey: null, bodySha256: null })]);
      const keyOf = (customId: string, sha: string) => idempotencyKey({ namespace: 'ns-stored', customId, attempt: 0, bodySha256: sha });
      const expected = [keyOf('req-0', 'sha-as-stored'), keyOf('req-1', bodySha256(JSON.parse(newJob(1).body!)))];
      assert.deepEqual((await (await openReader()).resultsPage(-1, 10)).map((r) => r.idempotencyKey), expected);
      assert.deepEqual((await store.claimPending(10)).map((j) => j.idempotencyKey), expected);
    });

    test('a job given its key but not its body\'s hash has the hash its next key needs', async (t) => {
      const { store } = await storeFor(kind, t);
      await store.insertJobs([newJob(0, { bodySha256: null })]);
      await claimAndApply(store, [finished(0, S.failed)]);
      const asked: string[] = [];
      await store.requeueUnsuccessful((j) => (asked.push(j.bodySha256), `k-${j.attempt}`));
      assert.deepEqual(asked, [bodySha256(JSON.parse(newJob(0).body!))]);
      assert.equal((await store.job(0))!.idempotencyKey, 'k-1');
    });

    test('invalid lines without a customId do not collide, and are never handed out', async (t) => {
      const { store } = await storeFor(kind, t);
      const bad = (idx: number) =>
        newJob(idx, { customId: null, body: null, bodySha256: null, state: S.invalid, idempotencyKey: null, errorCode: 'invalid_line', errorMessage: 'bad json' });
      assert.deepEqual(await store.insertJobs([bad(0), bad(1), newJob(2)]), []);
      assert.equal((await store.counts()).invalid, 2);
      assert.equal((await store.job(1))?.errorMessage, 'bad json');
      assert.deepEqual(idxs(await store.claimPending(10)), [2]);
    });

    test('pending jobs are claimed once each, in input order, a page at a time; a released one is handed out again', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 6, 1);
      const first = await store.claimPending(2);
      assert.deepEqual(idxs(first), [1, 2]);
      assert.deepEqual({ ...first[0]! }, {
        idx: 1, lineNo: 2, customId: 'req-1', url: '/v1/responses', completionWindow: '24h', state: S.pending, attempt: 0,
        body: newJob(1).body, idempotencyKey: 'key-1-a0',
      });
      assert.deepEqual(idxs(await store.claimPending(10)), [3, 4, 5]);
      assert.deepEqual(await store.claimPending(10), []);
      assert.deepEqual(await store.claimPending(0), []);
      await store.release([2, 4]);
      assert.deepEqual(idxs(await store.claimPending(1)), [2]);
      assert.deepEqual(idxs(await store.claimPending(10)), [4]);
      assert.deepEqual(await store.claimPending(10), [], 'every pending job is claimed');
      assert.deepEqual(await store.apply([finished(3, S.failed)]), { lost: [] }, 'the owner never loses its own claims');
      await store.release([1, 2, 4, 5]);
      assert.deepEqual(idxs(await store.claimPending(10)), [1, 2, 4, 5], 'an applied update ended the claim of 3: it is not pending');
    });
  });

  describe(`store contract (${kind}): updates and transitions`, () => {
    test("'submitted' moves a pending job out to the server", async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 2);
      const before = Date.now();
      assert.deepEqual(await claimAndApply(store, [submitted(0)]), { lost: [] });
      const row = (await store.job(0))!;
      assert.deepEqual([row.state, row.responseId, row.apiStatus, row.requestId, row.nextPollAtMs, row.pollCount], [
        S.submitted, 'resp_0', 'queued', 'req_id_0', 1_000, 0,
      ]);
      assert.ok(row.submittedAtMs! >= before);
      assert.equal((await store.job(1))!.state, S.pending);
      assert.deepEqual(idxs(await store.claimPending(10)), [1]);
    });

    test("'polled' records the status and the next poll, and counts the poll", async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 1, 1);
      await claimAndApply(store, [polled(0, { nextPollAtMs: 5_000 })]);
      await claimAndApply(store, [polled(0, { apiStatus: 'running', nextPollAtMs: 9_000 })]);
      const row = (await store.job(0))!;
      assert.deepEqual([row.state, row.apiStatus, row.nextPollAtMs, row.pollCount, row.finishedAtMs], [S.submitted, 'running', 9_000, 2, null]);
    });

    test("'postponed' moves the next poll, and is not a poll: the count and the status stay", async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 1, 1);
      await claimAndApply(store, [polled(0, { apiStatus: 'running', nextPollAtMs: 5_000 })]);
      await claimAndApply(store, [{ kind: 'postponed', idx: 0, attempt: 0, nextPollAtMs: 70_000 }]);
      const row = (await store.job(0))!;
      assert.deepEqual([row.state, row.apiStatus, row.nextPollAtMs, row.pollCount, row.finishedAtMs], [S.submitted, 'running', 70_000, 1, null]);
      assert.equal(await store.nextPollAt(), 70_000);
      assert.deepEqual(await store.claimDuePolls(69_999, 10), [], 'not due before its new time');
      assert.deepEqual(idxs(await store.claimDuePolls(70_000, 10)), [0]);
    });

    test("'finished' reaches every end state TRANSITIONS allows from submitted", async (t) => {
      const { store } = await storeFor(kind, t);
      const ends = END_STATES.filter((s) => TRANSITIONS[S.submitted].includes(s));
      assert.ok(ends.length >= 6);
      await seed(store, ends.length, ends.length);
      await claimAndApply(store, ends.map((state, i) => finished(i, state, { parsed: state === S.completed ? '{"ok":true}' : null })));
      for (const [i, state] of ends.entries()) {
        const row = (await store.job(i))!;
        assert.equal(row.state, state);
        assert.equal(row.responseId, `resp_${i}`, 'a null responseId keeps the known one');
        assert.equal(row.requestId, `req_id_${i}`, 'a null requestId keeps the known one');
        assert.deepEqual([row.apiStatus, row.statusCode], [state, 200]);
        assert.deepEqual(JSON.parse(row.result!), { id: `resp_${i}`, status: state });
        assert.equal(row.parsed, state === S.completed ? '{"ok":true}' : null);
        assert.deepEqual([row.errorCode, row.errorMessage], state === S.completed ? [null, null] : [`${state}_code`, `${state} message`]);
        assert.equal(row.nextPollAtMs, null, 'no longer polled');
        assert.ok(row.finishedAtMs! > 0);
        assert.equal(row.pollCount, 1, 'the GET that saw it end counts as a poll');
      }
      assert.equal(await store.nextPollAt(), null);
      assert.deepEqual(await store.claimDuePolls(Number.MAX_SAFE_INTEGER, 10), [], 'a finished job is no longer due');
      const counts = await store.counts();
      for (const s of Object.values(S)) assert.equal(counts[s], ends.includes(s as Finished['state']) ? 1 : 0, s);
    });

    test("'finished' straight from pending (synchronous endpoint, permanent submit error), for every end state TRANSITIONS allows", async (t) => {
      const { store } = await storeFor(kind, t);
      const ends = END_STATES.filter((s) => TRANSITIONS[S.pending].includes(s) && s !== S.not_sent_budget);
      assert.deepEqual(new Set(ends), new Set([S.completed, S.failed, S.incomplete, S.cancelled, S.invalid_output]));
      await seed(store, ends.length);
      await claimAndApply(store, ends.map((state, i) => finished(i, state, { responseId: `chat_${i}`, requestId: `r${i}`, statusCode: state === S.failed ? 400 : 200 })));
      for (const [i, state] of ends.entries()) {
        const row = (await store.job(i))!;
        assert.deepEqual([row.state, row.responseId, row.requestId, row.pollCount, row.submittedAtMs], [state, `chat_${i}`, `r${i}`, 0, null]);
        assert.equal(row.statusCode, state === S.failed ? 400 : 200);
        assert.ok(row.finishedAtMs! > 0);
      }
    });

    test('an update TRANSITIONS does not allow from a claimed job is refused, whole', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 2, 1);
      await claimEverything(store);
      const forbidden: [JobState, JobUpdate][] = [];
      for (const [idx, from] of [[1, S.pending], [0, S.submitted]] as const) {
        const candidates: JobUpdate[] = [
          submitted(idx), polled(idx), { kind: 'postponed', idx, attempt: 0, nextPollAtMs: 9_000 },
          ...END_STATES.filter((s) => s !== S.not_sent_budget).map((s) => finished(idx, s)),
        ];
        for (const u of candidates) {
          const to = u.kind === 'finished' ? u.state : S.submitted;
          const allowed = u.kind === 'polled' || u.kind === 'postponed' ? from === S.submitted : TRANSITIONS[from].includes(to);
          if (!allowed) forbidden.push([from, u]);
        }
      }
      assert.deepEqual(forbidden.map(([from, u]) => `${from}:${u.kind}${u.kind === 'finished' ? `:${u.state}` : ''}`).sort(), [
        'pending:finished:expired', 'pending:polled', 'pending:postponed', 'submitted:submitted',
      ]);
      for (const [from, u] of forbidden) {
        await assertRefused(store, [u], new RegExp(`job ${u.idx} \\(line ${u.idx + 1}\\): cannot apply "${u.kind}" for attempt 0; it is ${from} at attempt 0`));
      }
      assert.deepEqual(await store.counters(), {}, 'counters roll back with the updates');
    });

    test('a page with one refused update writes nothing: not its other updates, not its counters', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 3);
      await claimEverything(store);
      await assertRefused(store, [submitted(1), submitted(0), submitted(0, { responseId: 'resp_dup' })], /job 0 \(line 1\): cannot apply "submitted" for attempt 0/);
      assert.deepEqual(await store.counters(), {});
      assert.equal((await store.counts()).pending, 3);
      // The claims survive the refusal: the page goes through once it is right.
      assert.deepEqual(await store.apply([submitted(1), submitted(0)], { posts: 2 }), { lost: [] });
      assert.deepEqual(await store.counters(), { posts: 2 });
    });

    test('an update for another attempt than the job is at is refused', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 2, 1);
      await claimEverything(store);
      await assertRefused(store, [submitted(1, { attempt: 1 })], /attempt 1; it is pending at attempt 0/);
      await assertRefused(store, [polled(0, { attempt: 1 })], /attempt 1; it is submitted at attempt 0/);
      await assertRefused(store, [finished(0, S.completed, { attempt: 2 })]);
      assert.deepEqual([(await store.job(0))!.state, (await store.job(1))!.state], [S.submitted, S.pending]);
    });

    test('no update leaves a terminal state, nor a held one: it never lands', async (t) => {
      const { store } = await storeFor(kind, t);
      const ends = END_STATES.filter((s) => s !== S.not_sent_budget);
      await seed(store, ends.length + 1, ends.length);
      await claimAndApply(store, ends.map((s, i) => finished(i, s)));
      await store.insertJobs([newJob(ends.length + 1, { customId: null, body: null, state: S.invalid, idempotencyKey: null, errorCode: 'x', errorMessage: 'x' })]);
      assert.equal(await store.holdForBudget(), 1);
      const stuck = [...ends.map((s, i) => [i, s] as const), [ends.length, S.not_sent_budget] as const, [ends.length + 1, S.invalid] as const];
      for (const [idx, state] of stuck) {
        assert.equal((await store.job(idx))!.state, state);
        assert.ok(!TRANSITIONS[state].some((to) => to !== S.pending), `${state} leaves only to pending, by retry or release`);
        for (const u of [submitted(idx), polled(idx), finished(idx, S.completed), finished(idx, S.failed)]) {
          const before = await store.job(idx);
          // Nobody may claim these jobs: SQLite refuses the update, PostgreSQL finds no claim of
          // this owner and drops it (as it would a job another worker took over). Neither writes.
          const outcome = await store.apply([u]).then((r) => r, (e: unknown) => e);
          if (outcome instanceof StateTransitionError) assert.equal(kind, 'sqlite');
          else assert.deepEqual(outcome, { lost: [idx] }, `${state} ← ${u.kind}`);
          assert.deepEqual(await store.job(idx), before, `${state} ← ${u.kind}`);
        }
      }
    });
  });

  describe(`store contract (${kind}): due polls`, () => {
    test('only due, unclaimed submitted jobs are handed out, soonest first, up to the limit', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 6);
      await claimAndApply(store, [
        submitted(0, { nextPollAtMs: 300 }),
        submitted(1, { nextPollAtMs: 100 }),
        submitted(2, { nextPollAtMs: 200 }),
        submitted(3, { nextPollAtMs: 5_000 }),
        submitted(4, { nextPollAtMs: 150 }),
      ]);
      assert.equal(await store.nextPollAt(), 100);
      const due = await store.claimDuePolls(150, 10);
      assert.deepEqual(idxs(due), [1, 4], 'due means nextPollAtMs <= now');
      assert.deepEqual({ ...due[0]!, submittedAtMs: 0 }, {
        idx: 1, lineNo: 2, customId: 'req-1', url: '/v1/responses', completionWindow: '24h', state: S.submitted, attempt: 0,
        body: newJob(1).body, responseId: 'resp_1', apiStatus: 'queued', submittedAtMs: 0, pollCount: 0,
      });
      assert.deepEqual(await store.claimDuePolls(99, 10), []);
      assert.deepEqual(await store.claimDuePolls(1_000, 0), []);
      await store.release([1, 4]);
      assert.deepEqual(idxs(await store.claimDuePolls(1_000, 2)), [1, 4]);
      assert.deepEqual(idxs(await store.claimDuePolls(1_000, 1)), [2], 'a claimed job does not use up the limit');
      assert.deepEqual(idxs(await store.claimDuePolls(1_000, 10)), [0]);
      assert.deepEqual(await store.claimDuePolls(1_000, 10), [], 'every due job is claimed');
      assert.equal(await store.nextPollAt(), 100, 'claims do not move the next poll');
      await store.apply([polled(1, { nextPollAtMs: 500 })]);
      assert.deepEqual(idxs(await store.claimDuePolls(1_000, 10)), [1], 'an applied update ends the claim');
      await store.release([0, 1, 2, 4]);
      assert.deepEqual(idxs(await store.claimDuePolls(10_000, 10)), [4, 2, 0, 1, 3], 'soonest first, not input order');
    });

    test('pollNow makes a submitted job due at once; an unknown or finished response matches nothing', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 3, 3);
      await claimAndApply(store, [polled(0, { nextPollAtMs: Date.now() + 3_600_000 }), polled(1, { nextPollAtMs: Date.now() + 3_600_000 }), finished(2, S.completed)]);
      assert.deepEqual(await store.claimDuePolls(Date.now(), 10), []);
      assert.equal(await store.pollNow('resp_1'), true);
      assert.equal(await store.pollNow('resp_nobody'), false);
      assert.equal(await store.pollNow('resp_2'), false);
      assert.deepEqual(idxs(await store.claimDuePolls(Date.now(), 10)), [1]);
    });
  });

  describe(`store contract (${kind}): the retry path`, () => {
    test('requeueUnsuccessful sends every unsuccessful job back to pending with attempt + 1 and a new key', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 7, 6);
      await store.insertJobs([newJob(7, { customId: null, state: S.invalid, idempotencyKey: null, errorCode: 'invalid_line', errorMessage: 'bad' })]);
      await claimAndApply(store, [
        finished(0, S.completed),
        finished(1, S.failed),
        finished(2, S.incomplete),
        finished(3, S.cancelled),
        finished(4, S.expired),
        finished(5, S.invalid_output),
      ]);
      const asked: unknown[] = [];
      const n = await store.requeueUnsuccessful((j) => {
        asked.push({ ...j });
        return `new-${j.customId}-a${j.attempt}`;
      });
      assert.equal(n, 5);
      assert.deepEqual(asked, [1, 2, 3, 4, 5].map((i) => ({ idx: i, customId: `req-${i}`, attempt: 1, bodySha256: `sha-${i}` })));
      for (const i of [1, 2, 3, 4, 5]) {
        const row = (await store.job(i))!;
        assert.deepEqual([row.state, row.attempt, row.idempotencyKey, row.pollCount], [S.pending, 1, `new-req-${i}-a1`, 0]);
        for (const field of ['responseId', 'apiStatus', 'statusCode', 'requestId', 'result', 'parsed', 'errorCode', 'errorMessage', 'submittedAtMs', 'nextPollAtMs', 'finishedAtMs'] as const) {
          assert.equal(row[field], null, `job ${i} ${field}`);
        }
      }
      const done = (await store.job(0))!;
      assert.deepEqual([done.state, done.attempt, done.idempotencyKey, done.responseId], [S.completed, 0, 'key-0-a0', 'resp_0']);
      assert.equal((await store.job(6))!.attempt, 0, 'a pending job is left alone');
      assert.equal((await store.job(7))!.state, S.invalid, 'an invalid line is never retried');
      assert.equal(await store.requeueUnsuccessful(() => 'unused'), 0, 'nothing left to requeue');

      // The requeued jobs are handed out again, with their new keys.
      const again = await store.claimPending(10);
      assert.deepEqual(again.map((j) => [j.idx, j.attempt, j.idempotencyKey]), [
        ...[1, 2, 3, 4, 5].map((i) => [i, 1, `new-req-${i}-a1`]),
        [6, 0, 'key-6-a0'],
      ]);
      // The old attempt's late updates are refused; the new attempt goes through.
      await assertRefused(store, [submitted(1)], /for attempt 0; it is pending at attempt 1/);
      await store.apply([submitted(1, { attempt: 1, responseId: 'resp_1b' })]);
      assert.deepEqual([(await store.job(1))!.responseId, (await store.job(1))!.attempt], ['resp_1b', 1]);
    });

    test('requeues more jobs than one page', async (t) => {
      const { store } = await storeFor(kind, t);
      const n = 2_345;
      await seed(store, n);
      await claimAndApply(store, Array.from({ length: n }, (_, i) => finished(i, S.failed)));
      assert.equal(await store.requeueUnsuccessful((j) => `k-${j.customId}-${j.attempt}`), n);
      assert.equal((await store.counts()).pending, n);
      assert.deepEqual([(await store.job(n - 1))!.attempt, (await store.job(n - 1))!.idempotencyKey], [1, `k-req-${n - 1}-1`]);
    });

    test('requeueInvalidOutput takes only invalid_output jobs and counts the round and its jobs', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 4, 4);
      await claimAndApply(store, [finished(0, S.invalid_output), finished(1, S.failed), finished(2, S.invalid_output), finished(3, S.completed)]);
      assert.equal(await store.requeueInvalidOutput((j) => `io-${j.idx}-${j.attempt}`), 2);
      assert.deepEqual(await store.counters(), { output_retry_rounds: 1, output_retries: 2 });
      const rows = await store.jobsPage(-1, 10);
      assert.deepEqual(rows.map((r) => [r.state, r.attempt, r.idempotencyKey]), [
        [S.pending, 1, 'io-0-1'],
        [S.failed, 0, 'key-1-a0'],
        [S.pending, 1, 'io-2-1'],
        [S.completed, 0, 'key-3-a0'],
      ]);
      assert.equal(await store.requeueInvalidOutput(() => 'unused'), 0);
      assert.deepEqual(await store.counters(), { output_retry_rounds: 2, output_retries: 2 }, 'an empty round still counts as a round');
    });

    test('the spending cap holds every pending job not being sent, and releases it with the same attempt and key', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 5, 1);
      assert.deepEqual(idxs(await store.claimPending(1)), [1]);
      assert.equal(await store.holdForBudget(), 3, 'not the claimed one: it is being sent');
      assert.equal((await store.job(1))!.state, S.pending);
      await store.apply([submitted(1)]);
      const counts = await store.counts();
      assert.deepEqual([counts.pending, counts.not_sent_budget, counts.submitted], [0, 3, 2]);
      assert.deepEqual(await store.claimPending(10), [], 'a held job is not sent');
      assert.equal(await store.releaseBudgetHold(), 3);
      assert.deepEqual((await store.claimPending(10)).map((j) => [j.idx, j.attempt, j.idempotencyKey]), [2, 3, 4].map((i) => [i, 0, `key-${i}-a0`]));
      assert.equal(await store.releaseBudgetHold(), 0);
    });
  });
}
