/**
 * The speed of `--dry-run`: it is the validation pass plus tokenizing every prompt (o200k_base)
 * and tallying per endpoint × model × window. Both are timed on the same mixed file (three
 * endpoints, three models, three windows): the validation pass alone (a bad last line stops it
 * after reading everything) and the dry run with a price table. The CLI runs as its own process.
 *
 *   BENCH_DRY_LINES=1000000 npm run bench -- dry-run      # default: 100,000 lines
 */
import { appendFileSync, copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeMixedWorkload } from '../test/helpers/mixed-workload.ts';
import { fmt, sizesFrom, timed } from './measure.ts';

const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));
const PRICES = fileURLToPath(new URL('../fixtures/prices.example.json', import.meta.url));

export async function bench(): Promise<void> {
  const rows: string[] = [];
  for (const n of sizesFrom('BENCH_DRY_LINES', [100_000])) {
    const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-dry-'));
    try {
      const input = join(dir, 'in.jsonl');
      const lines = writeMixedWorkload(input, n);
      const tokens = lines.reduce((s, l) => s + l.tokens, 0);
      const mb = statSync(input).size / 1e6;
      const bad = join(dir, 'bad.jsonl');
      copyFileSync(input, bad);
      appendFileSync(bad, '{"input": 1}\n');
      const common = ['-o', join(dir, 'out.jsonl'), '--max-output-tokens', '256', '--quiet'];
      const v = await timed([BIN, 'run', bad, ...common], { SAIL_API_KEY: 'bench' });
      if (v.code !== 2) throw new Error(`validation pass exited ${v.code}`);
      const d = await timed([BIN, 'run', input, ...common, '--dry-run', '--json', '--prices', PRICES]);
      if (d.code !== 0) throw new Error(`dry run exited ${d.code}: ${d.stderr}`);
      const counted = (JSON.parse(d.stdout) as { totals: { inputTokens: number } }).totals.inputTokens;
      if (counted !== tokens) throw new Error(`dry run counted ${counted} tokens, gpt-tokenizer ${tokens}`);
      rows.push(
        `| ${fmt(n)} | ${mb.toFixed(1)} MB | ${fmt(tokens)} | ${v.wallS.toFixed(1)} s (${fmt(n / v.wallS)} lines/s) | ` +
          `${d.wallS.toFixed(1)} s (${fmt(n / d.wallS)} lines/s), CPU ${d.cpuS.toFixed(1)} s | ${d.peakRssMb.toFixed(0)} MB |`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log('| lines | input | input tokens | validation pass | dry run (validation + tokens + cost) | peak RSS of dry run |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
}
