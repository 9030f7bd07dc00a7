import { createReadStream } from 'node:fs';
import split2 from 'split2';
import { scanJson } from '../json-scan.ts';
import { isPlainObject } from '../normalize.ts';
import { RawInspector } from '../raw-inspector.ts';
import type { RowItem, RowSource } from './row-source.ts';

/** JSONL whose lines are plain objects (any fields, nested ones reachable as `{{a.b}}`). */
export class JsonlRowSource implements RowSource {
  private readonly inspector: RawInspector;

  constructor(
    readonly file: string,
    maxLineBytes: number,
  ) {
    this.inspector = new RawInspector(maxLineBytes);
  }

  get bytesRead(): number {
    return this.inspector.bytes;
  }

  sha256(): string {
    return this.inspector.digest();
  }

  async *rows(): AsyncGenerator<RowItem> {
    const source = createReadStream(this.file);
    const lines = source.pipe(this.inspector).pipe(split2());
    source.on('error', (e) => lines.destroy(e));
    let line = 0;
    let n = 0;
    try {
      for await (const raw of lines as AsyncIterable<string>) {
        line++;
        const text = line === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
        if (text.trim() === '') continue;
        n++;
        yield this.item(line, n, text);
      }
    } finally {
      source.destroy();
    }
  }

  private item(line: number, n: number, text: string): RowItem {
    const invalid = (field: string, message: string): RowItem => ({ kind: 'invalid', line, n, field, message });
    const problem = this.inspector.problems.get(line);
    if (problem) {
      this.inspector.problems.delete(line);
      return invalid('', problem);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return invalid('', `not valid JSON (${(e as Error).message})`);
    }
    if (!isPlainObject(parsed)) {
      return invalid('', `must be a JSON object with the row's fields (got ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed).slice(0, 40)})`);
    }
    const scan = scanJson(text);
    if (scan) return invalid(scan.path, scan.message);
    return { kind: 'row', line, n, row: parsed };
  }
}
