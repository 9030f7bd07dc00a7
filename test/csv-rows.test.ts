import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CsvRowSource } from '../src/input/rows/csv-rows.ts';
import type { RowItem } from '../src/input/rows/row-source.ts';
import { testDir } from './helpers/tmp.ts';

test('CSV rows: a line of bad UTF-8 or over the limit is that row\'s error, named by its line, and the rows around it, one spanning two lines, are read as they are', async (t) => {
  const file = join(testDir(t), 'rows.csv');
  writeFileSync(
    file,
    Buffer.concat([
      Buffer.from('id,q\nr1,one\n'),
      Buffer.from([0x72, 0x32, 0x2c, 0xc3, 0x28, 0x0a]),
      Buffer.from(`r3,${'x'.repeat(100)}\n`),
      Buffer.from('r4,"two\nlines"\nr5,five'),
    ]),
  );
  const source = new CsvRowSource(file, ',', 64);
  const items: RowItem[] = [];
  for await (const item of source.rows()) items.push(item);
  assert.deepEqual(items, [
    { kind: 'columns', names: ['id', 'q'] },
    { kind: 'row', line: 2, n: 1, row: { id: 'r1', q: 'one' } },
    { kind: 'invalid', line: 3, n: 2, field: '', message: 'line is not valid UTF-8; save the file as UTF-8' },
    { kind: 'invalid', line: 4, n: 3, field: '', message: 'line is longer than the limit of 64 bytes; shorten it or raise --max-line-bytes' },
    { kind: 'row', line: 5, n: 4, row: { id: 'r4', q: 'two\nlines' } },
    { kind: 'row', line: 7, n: 5, row: { id: 'r5', q: 'five' } },
  ]);
  const bytes = readFileSync(file);
  assert.equal(source.bytesRead, bytes.length);
  assert.equal(source.sha256(), createHash('sha256').update(bytes).digest('hex'));
});
