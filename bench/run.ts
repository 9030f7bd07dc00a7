/**
 * Benchmarks: throughput and peak memory of a whole `sailbatch run` against the simulator, at
 * several input sizes, to check that memory does not grow with the file. The simulator runs in
 * this process; the CLI runs as its own process (the built dist/cli/bin.js) under GNU time, so
 * its peak RSS is its own. All traffic is on 127.0.0.1.
 *
 *   npm run bench                      # 10,000 and 100,000 lines
 *   BENCH_LINES=1000,1000000 npm run bench
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../src/sim/simulator.ts';
import { readOutput, writeWorkload } from '../test/helpers/workload.ts';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const sizes = (process.env['BENCH_LINES'] ?? '10000,100000').split(',').map(Number);

interface Measure {
  code: number | null;
  peakRssMb: number;
  wallS: number;
}

function timed(args: string[]): Promise<Measure> {
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/time', ['-f', 'BENCH %M %e', process.execPath, BIN, ...args], {
      env: { PATH: process.env['PATH'] ?? '', SAIL_API_KEY: 'bench' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      const m = /BENCH (\d+) ([\d.]+)/.exec(err);
      resolve({ code, peakRssMb: Number(m?.[1]) / 1024, wallS: Number(m?.[2]) });
    });
  });
}

const rows: string[] = [];
for (const n of sizes) {
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-'));
  const sim = await startSimulator({ latencyMs: { asap: 50, standard: 50, flex: 50 } });
  try {
    const input = join(dir, 'in.jsonl');
    writeWorkload(input, n, ['asap']);
    const mb = statSync(input).size / 1e6;

    // Validation alone: a bad last line makes the run stop after reading everything, sending nothing.
    const bad = join(dir, 'bad.jsonl');
    writeWorkload(bad, n, ['asap']);
    appendFileSync(bad, '{"input": 1}\n');
    const v = await timed(['run', bad, '-o', join(dir, 'bad-out.jsonl'), '--base-url', sim.url, '--quiet']);
    if (v.code !== 2) throw new Error(`validation run exited ${v.code}`);

    const r = await timed([
      'run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--quiet',
      '--concurrency', '64', '--max-rps', '0', '--poll-interval', '100ms', '--max-poll-interval', '400ms',
    ]);
    const lines = readOutput(join(dir, 'out.jsonl')).filter((l) => l.error === null).length;
    if (r.code !== 0 || lines !== n) throw new Error(`run exited ${r.code} with ${lines}/${n} completed lines`);
    rows.push(
      `| ${n.toLocaleString('en')} | ${mb.toFixed(1)} MB | ${v.wallS.toFixed(1)} s (${Math.round(n / v.wallS).toLocaleString('en')} lines/s), peak RSS ${v.peakRssMb.toFixed(0)} MB | ` +
        `${r.wallS.toFixed(1)} s (${Math.round(n / r.wallS).toLocaleString('en')} jobs/s) | ${r.peakRssMb.toFixed(0)} MB | ${sim.stats().inferences.toLocaleString('en')} |`,
    );
  } finally {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log('| lines | input | validate only | full run (submit, poll, write) | peak RSS of run | inferences |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(r);
