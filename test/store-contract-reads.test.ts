import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, describe, test } from 'node:test';
import { JOB_STATES } from '../src/checkpoint/job-states.ts';
import { RUN_GAUGES, type JobUpdate } from '../src/checkpoint/store.ts';
import { CheckpointError } from '../src/errors.ts';
import { stopPostgres } from './helpers/postgres.ts';
import { assertKept } from './helpers/recount.ts';
import { OWNER, STORE_KINDS, batchMeta, claimAndApply, finished, newJob, polled, seed, storeFor, submitted } from './helpers/stores.ts';

// The store contract, part two: what `status`, `export`, the summary and the spending checks read,
// on the SQLite store and on the PostgreSQL store alike.

after(stopPostgres);

const S = JOB_STATES;
const byKey = <T>(rows: T[], key: (r: T) => string) => [...rows].sort((a, b) => key(a).localeCompare(key(b)));

for (const kind of STORE_KINDS) {
  describe(`store contract (${kind}): figures`, () => {
    test('counts and totals follow every write: inserts with duplicates, each update kind, odd results, retry', async (t) => {
      const { store } = await storeFor(kind, t);
      const dupes = await store.insertJobs([0, 1, 2, 3, 4, 5, 6].map((i) => newJob(i, i === 2 ? { customId: 'req-0' } : {})));
      assert.equal(dupes.length, 1);
      await store.insertJobs([newJob(2, { customId: null, state: S.invalid, body: null, idempotencyKey: null, errorCode: 'dup', errorMessage: 'dup' })]);
      await assertKept(store, 'after the load');

      const submit = (idx: number): JobUpdate => submitted(idx, { nextPollAtMs: 0 });
      await claimAndApply(store, [submit(0), submit(1), submit(3), submit(4)], { posts: 4 });
      for (const idx of [0, 1, 3, 0]) await claimAndApply(store, [polled(idx, { nextPollAtMs: 0 })], { gets: 1 });
      await assertKept(store, 'after submits and polls');
      const result = (usage: unknown) => JSON.stringify({ usage });
      await claimAndApply(store, [
        finished(0, S.completed, { result: result({ input_tokens: 10, output_tokens: 20, input_tokens_details: { cached_tokens: 4 }, output_tokens_details: { reasoning_tokens: 5 } }) }),
        finished(1, S.failed, { result: JSON.stringify({ error: { message: 'x' }, usage: null }) }),
        // The engine stores JSON.stringify of what the server sent: a body that was no JSON object is a JSON string.
        finished(3, S.expired, { result: JSON.stringify('<html>bad gateway</html>') }),
        finished(5, S.completed, { result: result({ prompt_tokens: 3, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 1 } }) }),
        finished(6, S.completed, { result: result({ input_tokens: 2, output_tokens: 9, cache_read_input_tokens: 2 }) }),
      ]);
      await claimAndApply(store, [finished(4, S.failed, { result: result('not an object') })]);
      await assertKept(store, 'after every end state');
      const summary = await store.summary();
      assert.deepEqual(summary.tokens, { input: 15, output: 36, cached: 7, reasoning: 5 });
      const byModel = await store.usageByModel();
      assert.deepEqual(byModel.map((u) => [u.model, u.completionWindow]), [['m', '24h']]);
      assert.deepEqual(byModel[0]!.tokens, summary.tokens, 'the cost figures count the same tokens as the summary');
      assert.deepEqual(summary.requests, { posts: 4, gets: 4, retries: 0 });
      assert.equal(summary.unfinished, 0);
      assert.ok(summary.lastFinishedAtMs! > 0);
      assert.equal(summary.createdAtMs, batchMeta().createdAtMs);

      assert.equal(await store.requeueUnsuccessful((j) => `k${j.idx}-a${j.attempt}`), 3);
      await assertKept(store, 'after retry cleared the failed results');
      await claimAndApply(store, [submitted(1, { attempt: 1 })]);
      await claimAndApply(store, [finished(1, S.completed, { attempt: 1, result: result({ input_tokens: 1, output_tokens: 1 }) })]);
      await assertKept(store, 'after the retried job completed');
      assert.equal((await store.summary()).unfinished, 2);
    });

    test('counters add up across applies, and an apply may carry counters alone', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 1);
      await store.apply([], { posts: 2, gets: 0 });
      await claimAndApply(store, [submitted(0)], { posts: 1, gets: 4 });
      await store.apply([], { gets: 1, retries: 3 });
      assert.deepEqual(await store.counters(), { posts: 3, gets: 5, retries: 3 });
      assert.deepEqual((await store.summary()).requests, { posts: 3, gets: 5, retries: 3 });
    });

    test('gauges are set, not added to, beside the counters', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 1);
      await store.apply([], { posts: 1 }, { [RUN_GAUGES.throttleLimit]: 8 });
      await claimAndApply(store, [submitted(0)], { posts: 1 });
      await store.apply([], {}, { [RUN_GAUGES.throttleLimit]: 3 });
      assert.deepEqual(await store.counters(), { posts: 2, [RUN_GAUGES.throttleLimit]: 3 });
      await store.apply([], {}, { [RUN_GAUGES.throttleLimit]: 0 });
      assert.equal((await store.counters())[RUN_GAUGES.throttleLimit], 0);
    });

    test('usage per model as sent and window, work to send per endpoint × model × window, figures per fan-out model', async (t) => {
      const { store } = await storeFor(kind, t);
      const body = (model: string, cap?: number, field = 'max_output_tokens') => JSON.stringify({ model, input: 'x', ...(cap ? { [field]: cap } : {}) });
      await store.insertJobs([
        newJob(0, { body: body('a', 10), model: 'a', sample: 1 }),
        newJob(1, { body: body('a', 10), model: 'a', sample: 2 }),
        newJob(2, { body: body('b'), model: 'b', completionWindow: 'asap' }),
        newJob(3, { body: body('b', 5), model: 'b', completionWindow: 'asap' }),
        newJob(4, { url: '/v1/chat/completions', body: body('c', 7, 'max_completion_tokens'), completionWindow: null }),
        newJob(5, { url: '/v1/chat/completions', body: body('c'), completionWindow: null }),
        newJob(6, { url: '/v1/messages', body: body('d', 3, 'max_tokens') }),
        newJob(7, { body: body('a'), model: 'a', sample: 3 }),
      ]);
      const usage = (u: unknown) => JSON.stringify({ usage: u });
      await claimAndApply(store, [submitted(0), submitted(1), submitted(2)]);
      await claimAndApply(store, [
        finished(0, S.completed, { result: usage({ input_tokens: 10, output_tokens: 1 }) }),
        finished(1, S.failed, { result: usage({ input_tokens: 5, output_tokens: 2, output_tokens_details: { reasoning_tokens: 1 } }) }),
        finished(2, S.completed, { result: usage({ input_tokens: 7, output_tokens: 3, input_tokens_details: { cached_tokens: 6 } }) }),
        finished(4, S.completed, { result: usage({ prompt_tokens: 4, completion_tokens: 4 }) }),
        finished(6, S.incomplete, { result: JSON.stringify('no usage here') }),
      ]);
      const tokens = (input: number, output: number, cached = 0, reasoning = 0) => ({ input, output, cached, reasoning });
      assert.deepEqual(byKey(await store.usageByModel(), (u) => `${u.model}/${u.completionWindow}`), [
        { model: 'a', completionWindow: '24h', tokens: tokens(15, 3, 0, 1) },
        { model: 'b', completionWindow: 'asap', tokens: tokens(7, 3, 6) },
        { model: 'c', completionWindow: null, tokens: tokens(4, 4) },
      ]);
      assert.deepEqual(await store.holdForBudget(), 3);
      assert.deepEqual(byKey(await store.workToSend(), (w) => `${w.url}/${w.model}`), [
        { url: '/v1/chat/completions', model: 'c', completionWindow: null, jobs: 1, uncapped: 1 },
        { url: '/v1/responses', model: 'a', completionWindow: '24h', jobs: 1, uncapped: 1 },
        { url: '/v1/responses', model: 'b', completionWindow: 'asap', jobs: 1, uncapped: 0 },
      ]);
      assert.deepEqual(await store.perModel(), {
        a: { jobs: 3, counts: { completed: 1, failed: 1, not_sent_budget: 1 }, tokens: tokens(15, 3, 0, 1) },
        b: { jobs: 2, counts: { completed: 1, not_sent_budget: 1 }, tokens: tokens(7, 3, 6) },
      });
    });

    test('an output cap that is not a number counts as no cap, as the spending cap reads it', async (t) => {
      const { store } = await storeFor(kind, t);
      const body = (cap: unknown) => JSON.stringify({ model: 'a', input: 'x', max_output_tokens: cap });
      await store.insertJobs([newJob(0, { body: body(10) }), newJob(1, { body: body('10') }), newJob(2, { body: body(null) }), newJob(3, { body: body(2.5) })]);
      assert.deepEqual(await store.workToSend(), [{ url: '/v1/responses', model: 'a', completionWindow: '24h', jobs: 4, uncapped: 2 }]);
    });

    test('the API key may change only while it can have bought nothing', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 2);
      assert.equal(await store.anyAccepted(), false);
      assert.equal(await store.mayChangeKey(), true, 'no run ever sent');
      await store.noteSendingRun();
      assert.equal(await store.mayChangeKey(), false, 'a run sent: a POST may be in flight somewhere');
      await store.noteKeyRejected();
      assert.equal(await store.mayChangeKey(), true, 'the key was refused and nothing was accepted');
      await store.changeKey('salt-2', 'fp-2');
      assert.deepEqual([(await store.batch())!.keySalt, (await store.batch())!.keyFingerprint], ['salt-2', 'fp-2']);
      assert.equal(await store.mayChangeKey(), false, 'the new key has not been refused');
      assert.equal((await store.counters())['key_rejected'] ?? 0, 0);
      await claimAndApply(store, [submitted(0)]);
      assert.equal(await store.anyAccepted(), true);
      await store.noteKeyRejected();
      assert.equal(await store.mayChangeKey(), false, 'a job was accepted under this key');
    });
  });

  describe(`store contract (${kind}): what status and export read`, () => {
    test('results are read in input order, a page at a time, whatever order they finished in', async (t) => {
      const { store } = await storeFor(kind, t);
      await store.insertJobs([0, 1, 2, 3, 4, 5, 6].map((i) => newJob(i, i === 3 ? { customId: 'req-0' } : {})));
      await claimAndApply(store, [6, 5, 4, 2, 1, 0].map((i) => submitted(i)));
      for (const i of [5, 0, 6, 2]) await claimAndApply(store, [finished(i, S.completed)]);
      const pages: number[][] = [];
      for (let page = await store.jobsPage(-1, 2); page.length > 0; page = await store.jobsPage(page.at(-1)!.idx, 2)) pages.push(page.map((r) => r.idx));
      assert.deepEqual(pages, [[0, 1], [2, 4], [5, 6]], 'idx 3 was a duplicate: no row');
      assert.deepEqual((await store.jobsPage(0, 10)).map((r) => [r.idx, r.state]), [
        [1, S.submitted], [2, S.completed], [4, S.submitted], [5, S.completed], [6, S.completed],
      ]);
      assert.deepEqual(await store.jobsPage(6, 10), []);
      // What the writer reads: the same rows, in the same pages, with what a results line needs and not the request.
      const results: number[][] = [];
      for (let page = await store.resultsPage(-1, 2); page.length > 0; page = await store.resultsPage(page.at(-1)!.idx, 2)) results.push(page.map((r) => r.idx));
      assert.deepEqual(results, pages);
      const [first] = await store.resultsPage(-1, 1);
      const whole = (await store.job(0))!;
      assert.deepEqual(first, {
        idx: 0, lineNo: whole.lineNo, customId: whole.customId, state: S.completed, idempotencyKey: whole.idempotencyKey, statusCode: whole.statusCode,
        requestId: whole.requestId, result: whole.result, errorCode: null, errorMessage: null, parsed: whole.parsed, sourceRow: whole.sourceRow,
        model: whole.model, sample: whole.sample,
      });
      assert.notEqual(whole.result, null);
      // What a spend estimate reads: the same rows, in the same pages, with each job's request and state.
      const requests: number[][] = [];
      for (let page = await store.requestsPage(-1, 2); page.length > 0; page = await store.requestsPage(page.at(-1)!.idx, 2)) requests.push(page.map((r) => r.idx));
      assert.deepEqual(requests, pages);
      assert.deepEqual(await store.requestsPage(0, 10), (await store.jobsPage(0, 10)).map(({ idx, state, url, body, completionWindow }) => ({ idx, state, url, body, completionWindow })));
    });

    test('oldest running jobs and first unsuccessful ones, as status lists them', async (t) => {
      const { store } = await storeFor(kind, t);
      await seed(store, 6);
      for (const idx of [4, 1, 3, 0]) {
        await claimAndApply(store, [submitted(idx)]);
        // Distinct submission times, so that "oldest" has one answer.
        const at = (await store.job(idx))!.submittedAtMs!;
        while (Date.now() <= at) await new Promise((r) => setImmediate(r));
      }
      await claimAndApply(store, [finished(3, S.failed), finished(0, S.expired), finished(5, S.cancelled)]);
      assert.deepEqual((await store.oldestSubmitted(5)).map((r) => r.idx), [4, 1]);
      assert.deepEqual((await store.oldestSubmitted(1)).map((r) => r.idx), [4]);
      assert.deepEqual((await store.firstUnsuccessful(5)).map((r) => [r.idx, r.state, r.errorCode]), [
        [0, S.expired, 'expired_code'], [3, S.failed, 'failed_code'], [5, S.cancelled, 'cancelled_code'],
      ]);
      assert.deepEqual((await store.firstUnsuccessful(2)).map((r) => r.idx), [0, 3]);
    });

    test('the lease names the owner that joined, its process and machine; released, it names none', async (t) => {
      const { store } = await storeFor(kind, t);
      const before = Date.now();
      assert.equal(await store.heartbeat(OWNER), true);
      const lease = (await store.lease())!;
      assert.deepEqual([lease.owner, lease.pid, lease.host], [OWNER, process.pid, hostname()]);
      assert.ok(lease.heartbeatMs >= before);
      await store.releaseLease(OWNER);
      assert.equal(await store.lease(), undefined);
    });

    test('a read-only handle sees what the writer commits, refuses to write, and reads one snapshot', async (t) => {
      const { store, openReader } = await storeFor(kind, t);
      await seed(store, 2, 1);
      await store.apply([], { posts: 1 });
      const r = await openReader();
      assert.equal(r.readonly, true);
      assert.equal(await r.total(), 2);
      assert.equal((await r.job(0))?.state, S.submitted);
      assert.deepEqual(await r.counters(), { posts: 1 });
      assert.deepEqual(await r.batch(), await store.batch());
      for (const write of [() => r.insertJobs([newJob(2)]), () => r.apply([], { posts: 1 }), () => r.holdForBudget(), () => r.requeueUnsuccessful(() => 'k')]) {
        await assert.rejects(write(), (e: unknown) => e instanceof CheckpointError && /opened read-only/.test(e.message));
      }
      await claimAndApply(store, [finished(0, S.completed)]);
      assert.equal((await r.counts()).completed, 1, 'the reader sees commits made after it opened');
      const seen = await r.snapshot(async (snap) => {
        const first = await snap.counts();
        await claimAndApply(store, [submitted(1)]);
        return { first, again: await snap.counts(), summary: await snap.summary() };
      });
      assert.deepEqual(seen.again, seen.first, 'one snapshot while the writer goes on');
      assert.equal(seen.summary.counts.pending, 1);
      assert.equal((await r.counts()).submitted, 1, 'after the snapshot, the new state');
    });

    test('destroy removes the batch and everything in it', async (t) => {
      const { store, openBare } = await storeFor(kind, t);
      await seed(store, 3, 1);
      await store.destroy();
      const fresh = await openBare();
      assert.equal(await fresh.batch(), undefined);
      assert.equal(await fresh.createBatch(batchMeta()), true, 'the same input makes a new batch');
      assert.equal(await fresh.total(), 0);
    });
  });
}
