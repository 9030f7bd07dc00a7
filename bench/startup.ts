/**
 * How long the CLI takes to answer the commands that do little: `--version`, `--help`, and
 * `status` (text and `--json`) on a checkpoint of 1,000,000 lines. Each command runs as its own
 * process, once to warm the file cache and then BENCH_STARTUP_RUNS times (hyperfine's way);
 * the table gives the mean ± standard deviation, the fastest and slowest wall time, CPU and peak
 * RSS. `node -e 0` is the floor: what starting Node itself costs on this machine.
 *
 *   npm run bench -- startup
 *   BENCH_STARTUP_LINES=100000 BENCH_STARTUP_RUNS=5 npm run bench -- startup     # a quick run
 *   SAILBATCH_BIN=/tmp/old/dist/cli/bin.js npm run bench -- startup             # another build
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCheckpoint } from './checkpoint-fixture.ts';
import { BIN } from './contenders.ts';
import { fmt, sizesFrom, timed, type Measure } from './measure.ts';

const RUNS = sizesFrom('BENCH_STARTUP_RUNS', [10])[0]!;

interface Row {
  what: string;
  ms: number[];
  cpuMs: number;
  rssMb: number;
}

async function repeat(what: string, args: string[]): Promise<Row> {
  const once = async (): Promise<Measure> => {
    const m = await timed(args);
    if (m.code !== 0) throw new Error(`node ${args.join(' ')} exited ${m.code}:\n${m.stderr.slice(-2000)}`);
    return m;
  };
  await once();
  const runs: Measure[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once());
  return {
    what,
    ms: runs.map((m) => m.wallS * 1000),
    cpuMs: (runs.reduce((s, m) => s + m.cpuS, 0) / runs.length) * 1000,
    rssMb: Math.max(...runs.map((m) => m.peakRssMb)),
  };
}

export async function bench(): Promise<void> {
  const n = sizesFrom('BENCH_STARTUP_LINES', [1_000_000])[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-startup-'));
  try {
    const db = join(dir, 'cp.sqlite');
    await buildCheckpoint(db, n);
    const rows = [
      await repeat('`node -e 0` (the floor)', ['-e', '0']),
      await repeat('`sailbatch --version`', [BIN, '--version']),
      await repeat('`sailbatch --help`', [BIN, '--help']),
      await repeat(`\`sailbatch status\` (${fmt(n)} lines)`, [BIN, 'status', '--db', db]),
      await repeat(`\`sailbatch status --json\` (${fmt(n)} lines)`, [BIN, 'status', '--db', db, '--json']),
    ];
    console.log(`| command (${RUNS} runs after a warm-up) | wall ms, mean ± sd | min … max | CPU ms (mean) | peak RSS |`);
    console.log('| --- | --- | --- | --- | --- |');
    for (const r of rows) {
      const mean = r.ms.reduce((s, x) => s + x, 0) / r.ms.length;
      const sd = Math.sqrt(r.ms.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, r.ms.length - 1));
      console.log(`| ${r.what} | ${fmt(mean)} ± ${fmt(sd)} | ${fmt(Math.min(...r.ms))} … ${fmt(Math.max(...r.ms))} | ${fmt(r.cpuMs)} | ${fmt(r.rssMb)} MB |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
