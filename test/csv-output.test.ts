import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL } from './helpers/workload.ts';

const fast = ['--model', MODEL, '--completion-window', 'asap', '--poll-interval', '20ms', '--max-poll-interval', '100ms', '-q'];

function readCsv(path: string): { header: string[]; rows: Record<string, string>[] } {
  const records = parse(readFileSync(path), { bom: true }) as string[][];
  const header = records[0]!;
  return { header, rows: records.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]!]))) };
}

test('CSV output of JSONL rows has every key any row has (first seen first), also past the first page and in export', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'questions.jsonl');
  // 1,200 rows: the writer reads the checkpoint 1,000 at a time, and `late` first appears after that.
  const rows = Array.from({ length: 1200 }, (_, i) => ({ id: `q${i}`, q: `question ${i}`, ...(i % 2 ? { note: `n${i}` } : {}), ...(i === 1100 ? { late: { x: 1 } } : {}) }));
  writeFileSync(input, rows.map((r) => JSON.stringify(r)).join('\n'));
  const output = join(dir, 'answers.csv');
  const r = await runCli(['run', input, '-o', output, '--prompt', 'Q: {{q}}', '--id-column', 'id', '--base-url', sim.url, ...fast]);
  assert.equal(r.code, 0, r.stderr);
  for (const file of [output, join(dir, 'exported.csv')]) {
    if (file !== output) assert.equal((await runCli(['export', '--db', `${output}.checkpoint.sqlite`, '-o', file])).code, 0);
    const { header, rows: out } = readCsv(file);
    assert.deepEqual(header, ['id', 'q', 'note', 'late', 'output_text', 'status', 'error']);
    assert.equal(out.length, 1200);
    assert.equal(out[0]!['note'], '', 'a row without the key has an empty cell');
    assert.equal(out[1]!['note'], 'n1');
    assert.equal(out[1100]!['late'], '{"x":1}');
    assert.ok(out.every((row, i) => row['id'] === `q${i}` && row['status'] === 'completed'));
  }
});

test('CSV output keeps the header\'s columns when the first row could not be read (--skip-invalid)', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'reviews.csv');
  writeFileSync(input, 'sku,product,body\nA1,kettle,fine,extra\nA2,toaster,good\n');
  const output = join(dir, 'labeled.csv');
  const r = await runCli(['run', input, '-o', output, '--prompt', 'Rate {{product}}: {{body}}', '--skip-invalid', '--base-url', sim.url, ...fast]);
  assert.equal(r.code, 1, r.stderr);
  const { header, rows } = readCsv(output);
  assert.deepEqual(header, ['sku', 'product', 'body', 'output_text', 'status', 'error']);
  assert.deepEqual(rows.map((x) => [x['sku'], x['status']]), [['', 'invalid'], ['A2', 'completed']]);
  assert.match(rows[0]!['error']!, /reviews\.csv:2: has 4 fields, the header has 3/);
});
