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
import { batchStatus } from '../src/checkpoint/batch-status.ts';
import type { JobUpdate } from '../src/checkpoint/store.ts';
import { buildCheckpoint } from './checkpoint-fixture.ts';
import { BIN } from './contenders.ts';
import { cpuUs, fmt, median, sizesFrom, timed } from './measure.ts';

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
  try {
    let claimPollsUs = 0;
    let nextPollUs = 0;
    let pollPageUs = 0;
    // Every job out at the server and due (the 24h window once its first poll comes): what does a turn of the dispatcher cost?
    const cost = await buildCheckpoint(file, n, async (store) => {
      const later = Date.now() + 3_600_000;
      const held = await store.claimDuePolls(Number.MAX_SAFE_INTEGER, 64);
      claimPollsUs = await perCall(5, 200, async () => store.release((await store.claimDuePolls(Number.MAX_SAFE_INTEGER, 8)).map((j) => j.idx)));
      nextPollUs = await perCall(5, 200, () => store.nextPollAt());
      let round = 0;
      pollPageUs = await perCall(5, 20, async () => {
        round++;
        await store.apply(held.map((j): JobUpdate => ({ kind: 'polled', idx: j.idx, attempt: 0, apiStatus: 'in_progress', nextPollAtMs: later + round })), { gets: held.length });
        // The dispatcher holds at most its concurrency in claims: give this page back.
        await store.release((await store.claimDuePolls(Number.MAX_SAFE_INTEGER, 64)).map((j) => j.idx));
      });
    });

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
      n, ...cost, claimPollsUs, nextPollUs, pollPageUs,
      statusMs: median(statusTimes), statusCliMs: median(cliTimes),
    };
  } finally {
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
