import { FileSource } from '../file-source.ts';
import { scanJson } from '../json-scan.ts';
import { isPlainObject } from '../normalize.ts';
import type { RowItem, RowSource } from './row-source.ts';

/** JSONL whose lines are plain objects (any fields, nested ones reachable as `{{a.b}}`). */
export class JsonlRowSource extends FileSource implements RowSource {
  async *rows(): AsyncGenerator<RowItem> {
    let n = 0;
    for await (const { line, text } of this.input.lines()) yield this.item(line, ++n, text);
  }

  private item(line: number, n: number, text: string): RowItem {
    const invalid = (field: string, message: string): RowItem => ({ kind: 'invalid', line, n, field, message });
    const json = this.parseLine(line, text);
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
