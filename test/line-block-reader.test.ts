import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { forEachLine, lineTooLong, NOT_UTF8, type BlockLine } from '../src/input/line-block.ts';
import { LineBlockReader } from '../src/input/line-block-reader.ts';
import { EVERY_LINE_MAX_BYTES, writeEveryLine } from './helpers/every-line.ts';
import { testDir } from './helpers/tmp.ts';

/** The lines as split2 and the byte inspector read them before blocks: the behaviour the reader must keep. */
function expectedLines(bytes: Buffer, max: number): BlockLine[] {
  const out: BlockLine[] = [];
  let start = 0;
  for (let line = 1; start < bytes.length; line++) {
    const nl = bytes.indexOf(0x0a, start);
    const raw = bytes.subarray(start, nl === -1 ? bytes.length : nl);
    start = nl === -1 ? bytes.length : nl + 1;
    if (raw.length > max) out.push({ line, problem: lineTooLong(max) });
    else if (!isUtf8(raw)) out.push({ line, problem: NOT_UTF8 });
    else {
      let text = raw.toString();
      if (nl !== -1 && text.endsWith('\r')) text = text.slice(0, -1);
      if (line === 1 && text.startsWith('\uFEFF')) text = text.slice(1);
      if (text.trim() !== '') out.push({ line, text });
    }
  }
  return out;
}

async function readLines(file: string, max: number): Promise<{ lines: BlockLine[]; reader: LineBlockReader; blocks: number }> {
  const reader = new LineBlockReader(file, max);
  const lines: BlockLine[] = [];
  let blocks = 0;
  for await (const block of reader.blocks()) {
    blocks++;
    assert.ok(block.bytes.length <= 128 * 1024 || block.tooLong.length > 0, `a block of ${block.bytes.length} bytes`);
    forEachLine(block, (l) => lines.push(l));
  }
  return { lines, reader, blocks };
}

test('blocks hold every line once, numbered, with its CR, BOM, bytes and length handled as split2 and the inspector did', async (t) => {
  const file = join(testDir(t), 'every.jsonl');
  writeEveryLine(file);
  const bytes = readFileSync(file);
  const { lines, reader, blocks } = await readLines(file, EVERY_LINE_MAX_BYTES);
  assert.ok(blocks > 5, `${blocks} blocks`);
  assert.deepEqual(lines, expectedLines(bytes, EVERY_LINE_MAX_BYTES));
  assert.equal(reader.bytesRead, bytes.length);
  assert.equal(reader.sha256(), createHash('sha256').update(bytes).digest('hex'));
});

test('a line over the limit is dropped wherever it falls: inside a chunk, across chunks, last in the file', async (t) => {
  const dir = testDir(t);
  for (const [name, content, max] of [
    ['short-limit', 'a\nbbbbbbbbbb\r\nc\n\ndddddddddddd', 5],
    ['across-chunks', `${'x'.repeat(200_000)}\n{"a":1}\n${'y'.repeat(70_000)}\n{"b":2}\n${'z'.repeat(140_000)}`, 100_000],
    ['exact-limit', `${'x'.repeat(100)}\r\n${'y'.repeat(101)}\n`, 101],
    ['only-newlines', '\n\n\r\n\n', 10],
    ['empty', '', 10],
  ] as const) {
    const file = join(dir, `${name}.jsonl`);
    writeFileSync(file, content);
    const { lines } = await readLines(file, max);
    assert.deepEqual(lines, expectedLines(Buffer.from(content), max), name);
  }
});
