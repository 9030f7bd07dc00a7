/**
 * Throughput and peak memory of a whole `sailbatch run` against the simulator, at several input
 * sizes, to check that memory does not grow with the file: first a validation-only pass (a bad
 * last line stops the run after reading everything, sending nothing), then a full run at
 * concurrency 64. The CLI runs as its own process (the built dist/cli/bin.js).
 *
 *   BENCH_LINES=1000,1000000 npm run bench -- runs      # default: 10,000 and 100,000 lines
 */
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../src/sim/simulator.ts';
import { readOutput, writeWorkload } from '../test/helpers/workload.ts';
import { BIN } from './contenders.ts';
import { fmt, sizesFrom, timed } from './measure.ts';

const ENV = { SAIL_API_KEY: 'bench' };

export async function bench(): Promise<void> {
  const rows: string[] = [];
  for (const n of sizesFrom('BENCH_LINES', [10_000, 100_000])) {
    const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-'));
    const sim = await startSimulator({ latencyMs: { asap: 50, standard: 50, flex: 50 } });
    try {
      const input = join(dir, 'in.jsonl');
      writeWorkload(input, n, ['asap']);
      const mb = statSync(input).size / 1e6;

      const bad = join(dir, 'bad.jsonl');
      writeWorkload(bad, n, ['asap']);
      appendFileSync(bad, '{"input": 1}\n');
      const v = await timed([BIN, 'run', bad, '-o', join(dir, 'bad-out.jsonl'), '--base-url', sim.url, '--quiet'], ENV);
      if (v.code !== 2) throw new Error(`validation run exited ${v.code}`);

      const r = await timed(
        [
          BIN, 'run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--quiet',
          '--concurrency', '64', '--max-rps', '0', '--poll-interval', '100ms', '--max-poll-interval', '400ms',
        ],
        ENV,
      );
      const lines = readOutput(join(dir, 'out.jsonl')).filter((l) => l.error === null).length;
      if (r.code !== 0 || lines !== n) throw new Error(`run exited ${r.code} with ${lines}/${n} completed lines`);
      rows.push(
        `| ${fmt(n)} | ${mb.toFixed(1)} MB | ${v.wallS.toFixed(1)} s (${fmt(n / v.wallS)} lines/s), peak RSS ${v.peakRssMb.toFixed(0)} MB | ` +
          `${r.wallS.toFixed(1)} s (${fmt(n / r.wallS)} jobs/s) | ${r.peakRssMb.toFixed(0)} MB | ${fmt(sim.stats().inferences)} |`,
      );
    } finally {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log('| lines | input | validate only | full run (submit, poll, write) | peak RSS of run | inferences |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
}
