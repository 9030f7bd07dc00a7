import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { ENDPOINT_KINDS, type UsagePaths } from '../src/api/endpoints.ts';
import { openStore } from '../src/checkpoint/open-store.ts';
import { MIGRATIONS, migrate } from '../src/checkpoint/sqlite/migrations.ts';
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import type { JobUpdate, NewJob } from '../src/checkpoint/store.ts';
import { CRASH_POINTS } from '../src/engine/crash-points.ts';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { writeWorkload } from './helpers/workload.ts';

// The running counts and totals of migration v4 against a full recount of the rows, in JS, by
// the endpoints table's own usage paths: after loads, runs, crashes, resumes and retries.

const FIELDS = ['input', 'output', 'cached', 'reasoning'] as const;

function at(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

function recount(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT state, result, poll_count, submitted_at_ms, finished_at_ms FROM jobs').all() as {
      state: string;
      result: string | null;
      poll_count: number;
      submitted_at_ms: number | null;
      finished_at_ms: number | null;
    }[];
    const counts: Record<string, number> = {};
    const tokens = { input: 0, output: 0, cached: 0, reasoning: 0 };
    let polls = 0;
    let background = 0;
    for (const r of rows) {
      counts[r.state] = (counts[r.state] ?? 0) + 1;
      polls += r.poll_count;
      if (r.submitted_at_ms !== null) background++;
      let usage: unknown;
      try {
        usage = r.result === null ? undefined : (JSON.parse(r.result) as { usage?: unknown }).usage;
      } catch {
        usage = undefined;
      }
      if (usage === null || typeof usage !== 'object' || Array.isArray(usage)) continue;
      for (const f of FIELDS) {
        const paths = [...new Set(Object.values(ENDPOINT_KINDS).flatMap((k) => k.usage[f as keyof UsagePaths]))];
        const v = paths.map((p) => at(usage, p)).find((x) => x !== undefined && x !== null);
        tokens[f] += Number(v ?? 0);
      }
    }
    return { counts, tokens, polls, background, maxPolls: Math.max(0, ...rows.map((r) => r.poll_count)), rows: rows.length };
  } finally {
    db.close();
  }
}

async function assertKept(file: string, what: string): Promise<void> {
  const expected = recount(file);
  const store = await openStore(file, { readonly: true });
  try {
    const s = await store.summary();
    const counts = Object.fromEntries(Object.entries(s.counts).filter(([, n]) => n > 0));
    assert.deepEqual(counts, expected.counts, `${what}: counts`);
    assert.equal(s.total, expected.rows, `${what}: total`);
    assert.equal(await store.total(), expected.rows, `${what}: total()`);
    assert.deepEqual(s.tokens, expected.tokens, `${what}: tokens`);
    assert.equal(s.polls.total, expected.polls, `${what}: polls`);
    assert.equal(s.polls.meanPerJob, expected.background === 0 ? 0 : expected.polls / expected.background, `${what}: background jobs`);
    assert.ok(s.polls.maxPerJob >= expected.maxPolls, `${what}: max polls is a high-water mark`);
  } finally {
    await store.close();
  }
}

const job = (idx: number, over: Partial<NewJob> = {}): NewJob => ({
  idx,
  lineNo: idx + 1,
  customId: `c${idx}`,
  url: '/v1/responses',
  body: '{}',
  bodySha256: `h${idx}`,
  completionWindow: '24h',
  state: 'pending',
  idempotencyKey: `k${idx}`,
  ...over,
});

const finished = (idx: number, state: 'completed' | 'failed' | 'expired', result: unknown, attempt = 0): JobUpdate => ({
  parsed: null,
  kind: 'finished',
  idx,
  attempt,
  state,
  responseId: null,
  apiStatus: state,
  statusCode: 200,
  requestId: null,
  result: typeof result === 'string' ? result : JSON.stringify(result),
  errorCode: null,
  errorMessage: null,
});

test('counts and totals follow every write of the store: inserts with duplicates, each update kind, odd results, retry', async (t) => {
  const file = join(testDir(t), 'cp.sqlite');
  const cp = SqliteStore.open(file);
  t.after(() => cp.close());
  const dupes = await cp.insertJobs([job(0), job(1), job(2, { customId: 'c0' }), job(3), job(4), job(5), job(6)]);
  assert.equal(dupes.length, 1);
  await cp.insertJobs([job(2, { customId: null, state: 'invalid', body: null, idempotencyKey: null, errorCode: 'dup', errorMessage: 'dup' })]);
  await assertKept(file, 'after the load');

  const submit = (idx: number): JobUpdate => ({ kind: 'submitted', idx, attempt: 0, responseId: `r${idx}`, apiStatus: 'queued', requestId: null, nextPollAtMs: 0 });
  await cp.apply([submit(0), submit(1), submit(3), submit(4)], { posts: 4 });
  await cp.apply([0, 1, 3, 0].map((idx) => ({ kind: 'polled', idx, attempt: 0, apiStatus: 'in_progress', nextPollAtMs: 0 }) as JobUpdate));
  await assertKept(file, 'after submits and polls');
  await cp.apply([
    finished(0, 'completed', { usage: { input_tokens: 10, output_tokens: 20, input_tokens_details: { cached_tokens: 4 }, output_tokens_details: { reasoning_tokens: 5 } } }),
    finished(1, 'failed', { error: { message: 'x' }, usage: null }),
    finished(3, 'expired', 'not json at all'),
    finished(5, 'completed', { usage: { prompt_tokens: 3, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 1 } } }),
    finished(6, 'completed', { usage: { input_tokens: 2, output_tokens: 9, cache_read_input_tokens: 2 } }),
  ]);
  await cp.apply([finished(4, 'failed', { usage: 'not an object' })]);
  await assertKept(file, 'after every end state');
  assert.deepEqual((await cp.summary()).tokens, { input: 15, output: 36, cached: 7, reasoning: 5 });

  assert.equal(await cp.requeueUnsuccessful((j) => `k${j.idx}-a${j.attempt}`), 3);
  await assertKept(file, 'after retry cleared the failed results');
  await cp.apply([submit(1)].map((u) => ({ ...u, attempt: 1 })));
  await cp.apply([finished(1, 'completed', { usage: { input_tokens: 1, output_tokens: 1 } }, 1)]);
  await assertKept(file, 'after the retried job completed');
});

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
  await assertKept(file, 'after the upgrade');
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
    await assertKept(db, `killed at ${point}`);
    const rerun = await runCli(args);
    assert.ok(rerun.code === 0 || rerun.code === 1, rerun.stderr);
    await assertKept(db, `rerun after ${point}`);
    const retried = await runCli(['retry', ...args.slice(1)]);
    assert.ok(retried.code === 0 || retried.code === 1, retried.stderr);
    await assertKept(db, `retry after ${point}`);
  }
});
