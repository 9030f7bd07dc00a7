import { writeFileSync } from 'node:fs';
import { MODEL } from './workload.ts';

/** What `writeEveryLine` files are read with: the limit its over-long line breaks. */
export const EVERY_LINE_MAX_BYTES = 100_000;
/** The reader's chunk size, where a CRLF and an over-long line are made to straddle a boundary. */
const CHUNK = 64 * 1024;

/**
 * Writes a JSONL file with every kind of line the reader and the validation must tell apart, good
 * lines of both shapes between them, and enough of them to span many blocks: a BOM, CRLF ends
 * (one split by a chunk boundary), blank and whitespace lines, lines that are not UTF-8, too long
 * (one spanning chunks), not JSON, not objects, nested too deep, with a repeated key or an integer
 * past 2^53, failing the schema, repeating a custom_id (valid and invalid), in the Anthropic and
 * chat shapes, and a last line without a newline. Returns the number of non-blank lines.
 */
export function writeEveryLine(path: string, goodLines = 3000): number {
  const parts: Buffer[] = [];
  let size = 0;
  let nonBlank = 0;
  const add = (text: string | Buffer, newline = '\n') => {
    const line = typeof text === 'string' ? Buffer.from(text) : text;
    parts.push(line, Buffer.from(newline));
    size += line.length + newline.length;
    if (line.toString().trim() !== '') nonBlank++;
  };
  const batch = (id: string, body: Record<string, unknown> = {}) =>
    JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/responses', body: { model: MODEL, input: `say ${id}`, ...body } });
  const bare = (i: number) => JSON.stringify({ model: MODEL, input: [{ role: 'user', content: `question ${i} ${'x'.repeat(i % 300)}` }], temperature: (i % 20) / 10 });

  add(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(batch('first'))]));
  add(bare(1));
  add('');
  add(' \t ');
  add(batch('crlf'), '\r\n');
  add('{"custom_id": "broken", ');
  add(Buffer.concat([Buffer.from('{"custom_id": "latin1", "input": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]));
  add(`{"input": "${'y'.repeat(150_000)}"}`);
  add(`{"custom_id": "deep", "input": ${'['.repeat(101)}${']'.repeat(101)}}`);
  add('{"custom_id": "twice-key", "input": "a", "input": "b"}');
  add('{"custom_id": "big-int", "model": "m", "input": "a", "max_output_tokens": 12345678901234567890}');
  add('[1, 2]');
  add('42');
  add(batch('hot', { temperature: 3 }));
  add(batch('first'));
  add(batch('crlf', { top_p: 2 }));
  add(JSON.stringify({ custom_id: 'anthropic', params: { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] } }));
  add(JSON.stringify({ custom_id: 'chat', method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] } }));
  for (let i = 0; i < goodLines; i++) {
    // A CRLF whose CR ends one chunk and whose LF starts the next.
    const line = i % 2 === 0 ? batch(`job-${i}`) : bare(i);
    const head = `{"custom_id": "edge", "model": "${MODEL}", "input": "`;
    const toBoundary = CHUNK - (size % CHUNK);
    if (i === 700 && toBoundary > head.length + 3) add(`${head}${'e'.repeat(toBoundary - head.length - 3)}"}`, '\r\n');
    else if (i % 500 === 250) add(batch(`job-${i - 250}`));
    else if (i % 700 === 350) add(batch(`bad-${i}`, { stream: true }));
    else add(line, i % 3 === 0 ? '\r\n' : '\n');
    if (i % 400 === 0) add('');
  }
  add(batch('last'), '');
  writeFileSync(path, Buffer.concat(parts));
  return nonBlank;
}
