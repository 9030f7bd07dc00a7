/**
 * The validation pass alone, at 1,000,000 lines, against a plain split2 + JSON.parse loop over
 * the same file (each its own process), interleaved and repeated: the ratio is the median of the
 * rounds', each taken against the loop's run just before (the VM's pace drifts by 15% between
 * minutes). sailbatch reads, validates, hashes and stores every line; a bad last line makes it
 * stop there, before sending anything (exit 2).
 *
 *   npm run bench -- validate
 *   BENCH_VALIDATE_LINES=100000 BENCH_REPEATS=1 npm run bench -- validate     # a quick run
 */
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeWorkload } from '../test/helpers/workload.ts';
import { BIN } from './contenders.ts';
import { fmt, median, sizesFrom, timed, type Measure } from './measure.ts';

const SPLIT2 = fileURLToPath(new URL('./clients/split2-parse.ts', import.meta.url));

/** One round: the split2 loop, then sailbatch's validation pass. */
interface Round {
  plain: Measure;
  v: Measure;
}

export async function bench(): Promise<void> {
  const repeats = sizesFrom('BENCH_REPEATS', [3])[0]!;
  console.log('| lines | input | round | split2 + JSON.parse | sailbatch validation | ratio (lines/s) | CPU ms/line: split2 loop, sailbatch | ratio (CPU) | sailbatch peak RSS |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const n of sizesFrom('BENCH_VALIDATE_LINES', [1_000_000])) {
    const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-validate-'));
    try {
      const input = join(dir, 'in.jsonl');
      writeWorkload(input, n - 1, ['asap']);
      appendFileSync(input, '{"input": 1}\n');
      const mb = (statSync(input).size / 1e6).toFixed(0);
      const rounds: Round[] = [];
      for (let r = 1; r <= repeats; r++) {
        const plain = await timed(['--import', 'tsx', SPLIT2, input]);
        if (plain.code !== 0) throw new Error(`split2 loop exited ${plain.code}: ${plain.stderr}`);
        const db = join(dir, `round-${r}.sqlite`);
        const v = await timed([BIN, 'run', input, '-o', join(dir, 'out.jsonl'), '--db', db, '--base-url', 'http://127.0.0.1:9/v1', '--quiet'], { SAIL_API_KEY: 'bench' });
        for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
        if (v.code !== 2) throw new Error(`validation run exited ${v.code}: ${v.stderr.slice(-1000)}`);
        rounds.push({ plain, v });
        console.log(
          `| ${fmt(n)} | ${mb} MB | ${r} | ${fmt(n / plain.wallS)} lines/s | ${fmt(n / v.wallS)} lines/s | ` +
            `${(plain.wallS / v.wallS).toFixed(2)}× | ${((plain.cpuS * 1000) / n).toFixed(4)}, ${((v.cpuS * 1000) / n).toFixed(4)} | ` +
            `${(plain.cpuS / v.cpuS).toFixed(2)}× | ${fmt(v.peakRssMb)} MB |`,
        );
      }
      if (repeats > 1) {
        const m = (f: (x: Round) => number) => median(rounds.map(f));
        console.log(
          `| ${fmt(n)} | ${mb} MB | median | ${fmt(m((x) => n / x.plain.wallS))} lines/s | ${fmt(m((x) => n / x.v.wallS))} lines/s | ` +
            `**${m((x) => x.plain.wallS / x.v.wallS).toFixed(2)}×** | ${m((x) => (x.plain.cpuS * 1000) / n).toFixed(4)}, ${m((x) => (x.v.cpuS * 1000) / n).toFixed(4)} | ` +
            `${m((x) => x.plain.cpuS / x.v.cpuS).toFixed(2)}× | ${fmt(m((x) => x.v.peakRssMb))} MB |`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
