/**
 * The render-and-validate pass of a templated, schema-checked run over 1,000,000 CSV rows
 * (csv-parse, the template, the request checks, the checkpoint inserts), beside the JSONL
 * validation pass over as many request lines; each its own process. A bad last row (an empty
 * cell) makes both stop after the whole file, before sending anything (exit 2).
 *
 *   npm run bench -- rows
 *   BENCH_ROWS=100000 npm run bench -- rows     # a quick run
 */
import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReviews } from '../test/helpers/dataset.ts';
import { writeWorkload } from '../test/helpers/workload.ts';
import { BIN } from './contenders.ts';
import { fmt, sizesFrom, timed, type Measure } from './measure.ts';

const NOWHERE = 'http://127.0.0.1:9/v1';

function row(kind: string, n: number, input: string, m: Measure): string {
  return `| ${kind} | ${fmt(n)} | ${(statSync(input).size / 1e6).toFixed(0)} MB | ${fmt(n / m.wallS)} rows/s | ${((m.cpuS * 1e6) / n).toFixed(1)} µs | ${fmt(m.peakRssMb)} MB |`;
}

export async function bench(): Promise<void> {
  console.log('| pass | rows | input | throughput | CPU per row | peak RSS |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const n of sizesFrom('BENCH_ROWS', [1_000_000])) {
    const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-rows-'));
    try {
      const { csv, template, schema } = writeReviews(dir, n - 1);
      appendFileSync(csv, 'SKU-LAST,kettle,\r\n');
      const rows = await timed(
        [BIN, 'run', csv, '-o', join(dir, 'labeled.csv'), '--template', template, '--schema', schema, '--model', 'openai/gpt-oss-20b', '--base-url', NOWHERE, '--quiet'],
        { SAIL_API_KEY: 'bench' },
      );
      if (rows.code !== 2 || !/column "body": empty/.test(rows.stderr)) throw new Error(`templated run exited ${rows.code}: ${rows.stderr.slice(-1000)}`);
      console.log(row('CSV rows → template → schema-asking requests', n, csv, rows));

      const jsonl = join(dir, 'in.jsonl');
      writeWorkload(jsonl, n - 1, ['asap']);
      appendFileSync(jsonl, '{"input": 1}\n');
      const lines = await timed([BIN, 'run', jsonl, '-o', join(dir, 'out.jsonl'), '--base-url', NOWHERE, '--quiet'], { SAIL_API_KEY: 'bench' });
      if (lines.code !== 2) throw new Error(`validation run exited ${lines.code}: ${lines.stderr.slice(-1000)}`);
      console.log(row('JSONL request lines (validation pass)', n, jsonl, lines));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
