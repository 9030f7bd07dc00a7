import { FileSource } from '../file-source.ts';
import { scanJson } from '../json-scan.ts';
import { forEachLine, parseJsonLine } from '../line-block.ts';
import { LineBlockReader } from '../line-block-reader.ts';
import { isPlainObject } from '../normalize.ts';
import type { RowItem, RowSource } from './row-source.ts';

/** JSONL whose lines are plain objects (any fields, nested ones reachable as `{{a.b}}`), read as request lines are. */
export class JsonlRowSource extends FileSource<LineBlockReader> implements RowSource {
  constructor(file: string, maxLineBytes: number) {
    super(file, new LineBlockReader(file, maxLineBytes));
  }

  async *rows(): AsyncGenerator<RowItem> {
    let n = 0;
    for await (const block of this.input.blocks()) {
      const items: RowItem[] = [];
      forEachLine(block, (l) => {
        n++;
        items.push(l.problem === undefined ? this.item(l.line, n, l.text) : { kind: 'invalid', line: l.line, n, field: '', message: l.problem });
      });
      yield* items;
    }
  }

  private item(line: number, n: number, text: string): RowItem {
    const invalid = (field: string, message: string): RowItem => ({ kind: 'invalid', line, n, field, message });
    const json = parseJsonLine(text);
    if (!json.ok) return invalid('', json.message);
    const parsed = json.value;
    if (!isPlainObject(parsed)) {
      return invalid('', `must be a JSON object with the row's fields (got ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed).slice(0, 40)})`);
    }
    const scan = scanJson(text, parsed);
    if (scan) return invalid(scan.path, scan.message);
    return { kind: 'row', line, n, row: parsed };
  }
}
