/**
 * The default `24h` window against `asap`, 100,000 lines each. In the 24h run responses take
 * 5–15 s at the simulator and the first poll comes after about 30 s, so tens of thousands of jobs
 * are out at the server at once while submissions go on: CPU per line should stay within 20% of
 * the asap run's (responses ready after 25–75 ms), and submissions should never pause (the
 * longest gap between two POSTs, as the simulator saw it).
 *
 * The two alternate, BENCH_REPEATS rounds (3 by default), because the VM's pace drifts by 15%
 * between minutes.
 *
 *   npm run bench -- window
 *   BENCH_WINDOW_LINES=20000 BENCH_REPEATS=1 npm run bench -- window     # a quick run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../src/sim/simulator.ts';
import { writeWorkload } from '../test/helpers/workload.ts';
import { runSailbatch } from './contenders.ts';
import { fmt, median, sizesFrom } from './measure.ts';

export async function bench(): Promise<void> {
  const [n] = sizesFrom('BENCH_WINDOW_LINES', [100_000]) as [number];
  const repeats = sizesFrom('BENCH_REPEATS', [3])[0]!;
  const rows: string[] = [];
  const ratios: number[] = [];
  for (let round = 1; round <= repeats; round++) {
    let asapCpu = 0;
    for (const window of ['asap', '24h']) {
      const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-window-'));
      const sim = await startSimulator({ latencyMs: { asap: 50, standard: 50, flex: 10_000 } });
      try {
        const input = join(dir, 'in.jsonl');
        writeWorkload(input, n, [window]);
        const x = await runSailbatch(sim.url, input, 64);
        if (x.completed !== n) throw new Error(`${window}: ${x.completed} of ${n} lines completed`);
        const st = sim.stats();
        const cpu = x.cpuMs / n;
        if (window === 'asap') asapCpu = cpu;
        else ratios.push(cpu / asapCpu);
        rows.push(
          `| ${round} | ${window} | ${x.wallS.toFixed(1)} s | ${cpu.toFixed(3)} (${((cpu / asapCpu) * 100).toFixed(0)}%) | ${(x.sendCpuMs / n).toFixed(3)} | ` +
            `${(st.gets / n).toFixed(2)} | ${fmt(st.maxPostGapMs)} ms | ${(Math.max(0, st.lastRequestAtMs - st.lastReadyAtMs) / 1000).toFixed(1)} s | ${fmt(x.peakRssMb)} MB |`,
        );
      } finally {
        await sim.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  console.log(`${fmt(n)} lines, concurrency 64, ${repeats} interleaved round${repeats > 1 ? 's' : ''} (each 24h run against the asap run just before it):\n`);
  console.log('| round | window | wall | CPU ms/line (vs asap) | of which sending and polling | GETs/line | longest gap between POSTs | tail | peak RSS |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  if (repeats > 1) console.log(`\n24h CPU per line, median of the rounds: **${(median(ratios) * 100).toFixed(0)}%** of asap's`);
}
