import { InspectedFile } from '../inspected-file.ts';
import { scanJson } from '../json-scan.ts';
import { isPlainObject } from '../normalize.ts';
import type { RowItem, RowSource } from './row-source.ts';

/** JSONL whose lines are plain objects (any fields, nested ones reachable as `{{a.b}}`). */
export class JsonlRowSource implements RowSource {
  private readonly input: InspectedFile;

  constructor(
    readonly file: string,
    maxLineBytes: number,
  ) {
    this.input = new InspectedFile(file, maxLineBytes);
  }

  get bytesRead(): number {
    return this.input.bytesRead;
  }

  sha256(): string {
    return this.input.sha256();
  }

  async *rows(): AsyncGenerator<RowItem> {
    let n = 0;
    for await (const { line, text } of this.input.lines()) yield this.item(line, ++n, text);
  }

  private item(line: number, n: number, text: string): RowItem {
    const invalid = (field: string, message: string): RowItem => ({ kind: 'invalid', line, n, field, message });
    const problem = this.input.problem(line);
    if (problem) return invalid('', problem);
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
