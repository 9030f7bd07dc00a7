/**
 * One batch, several worker processes, one PostgreSQL: the same input through 1, 2 and 4 worker
 * processes (the `run` that loads it, then `sailbatch worker --batch <id>` processes joining it),
 * with the batch's budget scaled with the number of workers, against the simulator at 200 ms
 * latency; and through the SQLite store with one process. For each: lines/s, and CPU seconds per
 * 1,000 lines of each worker process (from GNU time) and of PostgreSQL (its postmaster and every
 * backend, from /proc/<pid>/stat). On a small machine CPU caps the speed-up; CPU per line is
 * what says how far the fleet goes on machines with more cores.
 *
 *   npm run bench -- scale-out                       # 20,000 lines
 *   BENCH_SCALE_LINES=5000 npm run bench -- scale-out
 *   BENCH_SCALE_WORKERS=1,2,4,8 BENCH_SCALE_CONCURRENCY=64 npm run bench -- scale-out
 *
 * PostgreSQL is the test suite's embedded server (test/helpers/postgres.ts); with
 * SAILBATCH_TEST_PG_URL set, that server is used and its CPU is not measured.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startSimulator, type Simulator } from '../src/sim/simulator.ts';
import { createDatabase, postgresPid, stopPostgres } from '../test/helpers/postgres.ts';
import { readOutput, writeWorkload } from '../test/helpers/workload.ts';
import { BIN } from './contenders.ts';
import { fmt, sizesFrom, timed, type Measure } from './measure.ts';

const ENV = { SAIL_API_KEY: 'bench' };
const LATENCY_MS = 200;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const POLLS = ['--poll-interval', '100ms', '--max-poll-interval', '400ms', '--max-rps', '0', '--quiet', '--json'];

/** CPU seconds a process and all its children (live, or exited and reaped) have used. */
function treeCpuS(root: number): number {
  const stat = (pid: number) => {
    try {
      // Fields after the command (in parentheses, which may hold spaces): state is 3rd, ppid 4th, utime 14th ... cstime 17th.
      const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]) };
    } catch {
      return undefined;
    }
  };
  let ticks = stat(root)?.ticks ?? 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s?.ppid === root) ticks += s.ticks;
  }
  return ticks / CLOCK_TICKS;
}

interface Row {
  store: string;
  workers: number;
  concurrency: number;
  wallS: number;
  /** Each worker process, the loading `run` first: its CPU seconds and the POSTs it sent (the lines it did). */
  processes: { cpuS: number; posts: number }[];
  pgCpuS: number | undefined;
  simCpuS: number;
}

/** Each process's CPU and POSTs (from its --json summary), after checking that the batch came out whole and paid for once. */
function check(sim: Simulator, output: string, n: number, measures: Measure[]): Row['processes'] {
  const bad = measures.find((m) => m.code !== 0);
  if (bad) throw new Error(`a process exited ${bad.code}:\n${bad.stderr.slice(-2000)}`);
  const completed = readOutput(output).filter((l) => l.error === null).length;
  const { inferences, duplicateInferences } = sim.stats();
  if (completed !== n || inferences !== n || duplicateInferences !== 0) {
    throw new Error(`${completed}/${n} lines completed, ${inferences} inferences (${duplicateInferences} duplicates)`);
  }
  return measures.map((m) => {
    const summary = m.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { requests?: { posts: number } })
      .find((o) => o.requests);
    if (!summary) throw new Error(`no --json summary on stdout (${JSON.stringify(m.stdout.slice(-500))}); stderr: ${m.stderr.slice(-1000)}`);
    return { cpuS: m.cpuS, posts: summary.requests!.posts };
  });
}

async function batchId(url: string, loading: { exitCode: number | null }): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (;;) {
      const r = await c.query<{ id: string }>('SELECT id FROM batches ORDER BY id LIMIT 1').catch(() => ({ rows: [] as { id: string }[] }));
      if (r.rows[0]) return Number(r.rows[0].id);
      if (loading.exitCode !== null) throw new Error('the run ended before its batch was created');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await c.end();
  }
}

async function throughPostgres(input: string, dir: string, n: number, workers: number, perWorker: number): Promise<Row> {
  const sim = await startSimulator({ latencyMs: { asap: LATENCY_MS, standard: LATENCY_MS, flex: LATENCY_MS } });
  const { url, drop } = await createDatabase();
  try {
    const output = join(dir, `out-pg-${workers}.jsonl`);
    const concurrency = perWorker * workers;
    const server = await postgresPid();
    const pgBefore = server === undefined ? 0 : treeCpuS(server);
    const simBefore = process.cpuUsage();
    const started = Date.now();
    const run = timed([BIN, 'run', input, '-o', output, '--db', url, '--base-url', sim.url, '--concurrency', String(concurrency), ...POLLS], ENV);
    const state = { exitCode: null as number | null };
    void run.then((m) => (state.exitCode = m.code ?? -1), () => (state.exitCode = -1));
    const id = await batchId(url, state);
    const joined = Array.from({ length: workers - 1 }, () => timed([BIN, 'worker', '--db', url, '--batch', String(id), '--quiet', '--json'], ENV));
    const measures = await Promise.all([run, ...joined]);
    const wallS = (Date.now() - started) / 1000;
    const sim2 = process.cpuUsage(simBefore);
    const pgCpuS = server === undefined ? undefined : treeCpuS(server) - pgBefore;
    const processes = check(sim, output, n, measures);
    return { store: 'PostgreSQL', workers, concurrency, wallS, processes, pgCpuS, simCpuS: (sim2.user + sim2.system) / 1e6 };
  } finally {
    await sim.stop();
    await drop();
  }
}

async function throughSqlite(input: string, dir: string, n: number, concurrency: number): Promise<Row> {
  const sim = await startSimulator({ latencyMs: { asap: LATENCY_MS, standard: LATENCY_MS, flex: LATENCY_MS } });
  try {
    const output = join(dir, 'out-sqlite.jsonl');
    const simBefore = process.cpuUsage();
    const started = Date.now();
    const m = await timed([BIN, 'run', input, '-o', output, '--db', join(dir, 'cp.sqlite'), '--base-url', sim.url, '--concurrency', String(concurrency), ...POLLS], ENV);
    const wallS = (Date.now() - started) / 1000;
    const sim2 = process.cpuUsage(simBefore);
    const processes = check(sim, output, n, [m]);
    return { store: 'SQLite', workers: 1, concurrency, wallS, processes, pgCpuS: undefined, simCpuS: (sim2.user + sim2.system) / 1e6 };
  } finally {
    await sim.stop();
  }
}

export async function bench(): Promise<void> {
  const [n] = sizesFrom('BENCH_SCALE_LINES', [20_000]) as [number];
  const fleet = sizesFrom('BENCH_SCALE_WORKERS', [1, 2, 4]);
  const [perWorker] = sizesFrom('BENCH_SCALE_CONCURRENCY', [64]) as [number];
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-'));
  const rows: Row[] = [];
  try {
    const input = join(dir, 'in.jsonl');
    writeWorkload(input, n, ['asap']);
    rows.push(await throughSqlite(input, dir, n, perWorker));
    for (const workers of fleet) rows.push(await throughPostgres(input, dir, n, workers, perWorker));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await stopPostgres();
  }
  const per1k = (s: number, lines = n) => (lines === 0 ? '—' : ((s * 1000) / lines).toFixed(2));
  console.log(`${fmt(n)} lines, simulator latency ${LATENCY_MS} ms, --concurrency ${perWorker} × worker processes, --max-rps 0\n`);
  console.log('| store | worker processes | --concurrency | wall | lines/s | each worker process: CPU s per 1,000 of its lines (its lines) | all workers | PostgreSQL | simulator |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    const all = r.processes.reduce((a, p) => a + p.cpuS, 0);
    const each = r.processes.map((p) => `${per1k(p.cpuS, p.posts)} (${fmt(p.posts)})`).join(', ');
    console.log(
      `| ${r.store} | ${r.workers} | ${r.concurrency} | ${r.wallS.toFixed(1)} s | ${fmt(n / r.wallS)} | ${each} | ` +
        `${per1k(all)} | ${r.pgCpuS === undefined ? '—' : per1k(r.pgCpuS)} | ${per1k(r.simCpuS)} |`,
    );
  }
  console.log(
    '\nCPU seconds per 1,000 lines; "all workers", PostgreSQL and the simulator per 1,000 lines of the batch. The first worker ' +
      'process is the `run` that validated and loaded the input (its CPU includes that), the others joined it with `sailbatch worker`.',
  );
}
