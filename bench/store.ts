/**
 * The SQLite store at scale: does what the engine and `status` ask of it stay constant as the
 * checkpoint grows? For each size, a checkpoint is built through the store itself (inserts in
 * pages, then every job submitted and most finished with a result carrying usage), then timed:
 *
 * - the store's own write cost per line (insert, submit, finish), in CPU microseconds;
 * - the dispatcher's calls with every job out at the server (the `24h` window case), in CPU
 *   microseconds: a page of due polls next to 64 claimed ones, the next poll time, a page of poll
 *   updates and the next page of due polls;
 * - `status`: batchStatus() in this process, and `sailbatch status --json` as its own process.
 *
 *   npm run bench -- store
 *   BENCH_STORE_LINES=10000,100000 npm run bench -- store     # a quick run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchStatus } from '../src/checkpoint/batch-status.ts';
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import type { JobUpdate, NewJob } from '../src/checkpoint/store.ts';
import { fmt, sizesFrom, timed } from './measure.ts';

const PAGE = 2_000;
const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

const cpuUs = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from);
  return d.user + d.system;
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU microseconds per call of `fn` (CPU, not wall: the machine may be shared), the median of `rounds` rounds of `calls` calls. */
async function perCall(rounds: number, calls: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = process.cpuUsage();
    for (let i = 0; i < calls; i++) await fn();
    times.push(cpuUs(t) / calls);
  }
  return median(times);
}

const body = JSON.stringify({ model: 'openai/gpt-oss-20b', input: 'Summarise in one sentence: '.padEnd(200, 'lorem ipsum '), max_output_tokens: 256 });
const result = (i: number) =>
  JSON.stringify({
    id: `resp_${i}`,
    object: 'response',
    status: 'completed',
    output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'An answer of about a line. '.repeat(8) }] }],
    usage: { input_tokens: 60, output_tokens: 120, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 40 } },
  });

interface Row {
  n: number;
  insertUs: number;
  submitUs: number;
  finishUs: number;
  claimPollsUs: number;
  nextPollUs: number;
  pollPageUs: number;
  statusMs: number;
  statusCliMs: number;
}

async function measure(n: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-store-'));
  const file = join(dir, 'cp.sqlite');
  const store = SqliteStore.open(file);
  try {
    await store.createBatch({
      inputPath: '/bench.jsonl', inputBytes: 0, inputSha256: '', namespace: 'bench', keySalt: 's', keyFingerprint: 'f',
      baseUrl: 'http://127.0.0.1:1', optionsJson: '{}', createdAtMs: Date.now(),
    });
    let t = process.cpuUsage();
    for (let from = 0; from < n; from += PAGE) {
      const jobs: NewJob[] = [];
      for (let i = from; i < Math.min(n, from + PAGE); i++) {
        jobs.push({ idx: i, lineNo: i + 1, customId: `job-${i}`, url: '/v1/responses', body, bodySha256: 'a'.repeat(64), completionWindow: '24h', state: 'pending', idempotencyKey: `sb1_${i}`.padEnd(64, '0') });
      }
      await store.insertJobs(jobs);
    }
    const insertUs = cpuUs(t) / n;
    await store.markLoaded(0, '');

    const later = Date.now() + 3_600_000;
    t = process.cpuUsage();
    for (let from = 0; from < n; from += PAGE) {
      const page = await store.claimPending(PAGE);
      await store.apply(
        page.map((j): JobUpdate => ({ kind: 'submitted', idx: j.idx, attempt: 0, responseId: `resp_${j.idx}`, apiStatus: 'queued', requestId: null, nextPollAtMs: later + j.idx })),
        { posts: page.length },
      );
    }
    const submitUs = cpuUs(t) / n;

    // Every job out at the server and due (the 24h window once its first poll comes): what does a turn of the dispatcher cost?
    const held = await store.claimDuePolls(Number.MAX_SAFE_INTEGER, 64);
    const claimPollsUs = await perCall(5, 200, async () => store.release((await store.claimDuePolls(Number.MAX_SAFE_INTEGER, 8)).map((j) => j.idx)));
    const nextPollUs = await perCall(5, 200, () => store.nextPollAt());
    let round = 0;
    const pollPageUs = await perCall(5, 20, async () => {
      round++;
      await store.apply(held.map((j): JobUpdate => ({ kind: 'polled', idx: j.idx, attempt: 0, apiStatus: 'in_progress', nextPollAtMs: later + round })), { gets: held.length });
      // The dispatcher holds at most its concurrency in claims: give this page back.
      await store.release((await store.claimDuePolls(Number.MAX_SAFE_INTEGER, 64)).map((j) => j.idx));
    });

    // Finish all but 1% (still out at the server) and 2% failed: what status has to sum up.
    t = process.cpuUsage();
    const toFinish = n - Math.ceil(n / 100);
    for (let from = 0; from < toFinish; from += PAGE) {
      const updates: JobUpdate[] = [];
      for (let i = from; i < Math.min(toFinish, from + PAGE); i++) {
        const failed = i % 50 === 7;
        updates.push({
          kind: 'finished', idx: i, attempt: 0, state: failed ? 'failed' : 'completed', responseId: null, apiStatus: failed ? 'failed' : 'completed',
          statusCode: 200, requestId: null, result: result(i), parsed: null, errorCode: failed ? 'server_error' : null, errorMessage: failed ? 'the model failed' : null,
        });
      }
      await store.apply(updates, { gets: updates.length });
    }
    const finishUs = cpuUs(t) / toFinish;
    await store.close();

    const statusTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await batchStatus(file);
      statusTimes.push(performance.now() - t0);
    }
    const cliTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await timed([BIN, 'status', '--db', file, '--json']);
      if (m.code !== 0) throw new Error(`sailbatch status failed: ${m.stderr}`);
      cliTimes.push(m.wallS * 1000);
    }
    return {
      n, insertUs, submitUs, finishUs, claimPollsUs, nextPollUs, pollPageUs,
      statusMs: median(statusTimes), statusCliMs: median(cliTimes),
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function bench(): Promise<void> {
  const rows: Row[] = [];
  for (const n of sizesFrom('BENCH_STORE_LINES', [10_000, 1_000_000])) rows.push(await measure(n));
  console.log('| lines | insert µs CPU/line | submit µs CPU/line | finish µs CPU/line | claim 8 due polls (64 held) µs CPU | next poll time µs CPU | page of 64 poll updates + claim µs CPU | batchStatus() ms | `sailbatch status --json` ms (process) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${fmt(r.n)} | ${r.insertUs.toFixed(1)} | ${r.submitUs.toFixed(1)} | ${r.finishUs.toFixed(1)} | ${r.claimPollsUs.toFixed(0)} | ${r.nextPollUs.toFixed(1)} | ${r.pollPageUs.toFixed(0)} | ${r.statusMs.toFixed(1)} | ${fmt(r.statusCliMs)} |`,
    );
  }
}
