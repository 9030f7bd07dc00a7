/**
 * Does sailbatch keep its pace as the batch grows? The same zero-latency run at 100,000 and at
 * 1,000,000 lines: lines/s of the large run should stay within 10% of the small one's, and peak
 * RSS flat. The first size runs again after the others, and each is compared with the mean pace
 * of those two runs: the VM's pace drifts by 15% within minutes, and a large run takes several.
 *
 *   npm run bench -- million
 *   BENCH_MILLION_LINES=10000,100000 npm run bench -- million     # a quick run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeWorkload } from '../test/helpers/workload.ts';
import { SETTINGS, sample } from './compare.ts';
import { runSailbatch } from './contenders.ts';
import { fmt, sizesFrom } from './measure.ts';

export async function bench(): Promise<void> {
  const sizes = sizesFrom('BENCH_MILLION_LINES', [100_000, 1_000_000]);
  const rows: { n: number; rate: number; cpu: number; rss: number }[] = [];
  for (const n of [...sizes, sizes[0]!]) {
    const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-million-'));
    try {
      const input = join(dir, 'in.jsonl');
      writeWorkload(input, n, ['asap']);
      const x = await sample(runSailbatch, SETTINGS[0]!.sim, input, n);
      rows.push({ n, rate: n / x.wallS, cpu: x.cpuMs / n, rss: x.peakRssMb });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const reference = (rows[0]!.rate + rows[rows.length - 1]!.rate) / 2;
  console.log(`| lines (zero latency, concurrency 64), in the order run | lines/s | vs the first size's mean (${fmt(reference)}) | CPU ms/line | peak RSS |`);
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${fmt(r.n)} | ${fmt(r.rate)} | ${((r.rate / reference) * 100).toFixed(0)}% | ${r.cpu.toFixed(3)} | ${fmt(r.rss)} MB |`);
  }
}
