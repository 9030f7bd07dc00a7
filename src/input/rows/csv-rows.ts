import { parse, type Info } from 'csv-parse';
import { UsageError } from '../../errors.ts';
import { FileSource } from '../file-source.ts';
import { InspectedFile } from '../inspected-file.ts';
import type { RowItem, RowSource } from './row-source.ts';
import { countOf, formatCount } from '../../human-format.ts';

const NEWLINE = /\n/g;

/**
 * CSV or TSV with a header row, through csv-parse (RFC 4180: quoted fields with commas, quotes
 * and newlines inside, a BOM, CRLF or LF line ends), streamed: memory holds one record at a time.
 * A row whose number of fields differs from the header's is a bad line, not a parse failure.
 * Line numbers are counted from each record's raw text, because a quoted newline makes a row
 * span lines.
 */
export class CsvRowSource extends FileSource<InspectedFile> implements RowSource {
  constructor(
    file: string,
    private readonly delimiter: ',' | '\t',
    maxLineBytes: number,
  ) {
    super(file, new InspectedFile(file, maxLineBytes));
  }

  async *rows(): AsyncGenerator<RowItem> {
    const { out: parser, close } = this.input.pipe(
      parse({ bom: true, delimiter: this.delimiter, relax_column_count: true, info: true, raw: true, skip_empty_lines: true }),
    );
    let header: string[] | undefined;
    let consumed = 0;
    let n = 0;
    try {
      for await (const { record, raw } of parser as AsyncIterable<{ record: string[]; raw: string; info: Info }>) {
        const leading = /^[\r\n]*/.exec(raw)![0].split('\n').length - 1;
        const line = consumed + leading + 1;
        const lines = raw.match(NEWLINE)?.length ?? 0;
        consumed += lines;
        if (!header) {
          header = this.checkHeader(record, line);
          yield { kind: 'columns', names: header };
          continue;
        }
        n++;
        const problem = this.input.problem(line, line + Math.max(0, lines - leading - 1));
        if (problem) yield { kind: 'invalid', line, n, field: '', message: problem };
        else if (record.length !== header.length) {
          yield { kind: 'invalid', line, n, field: '', message: `has ${countOf(record.length, 'field')}, the header has ${formatCount(header.length)}; quote fields that contain the delimiter` };
        } else {
          const row: Record<string, unknown> = {};
          for (let i = 0; i < header.length; i++) row[header[i]!] = record[i];
          yield { kind: 'row', line, n, row };
        }
      }
    } catch (e) {
      const err = e as { code?: string; lines?: number; message: string };
      if (typeof err.code === 'string' && err.code.startsWith('CSV_')) {
        throw new UsageError(`${this.file}:${err.lines ?? consumed + 1}: not readable as ${this.delimiter === '\t' ? 'TSV' : 'CSV'} (${err.message}); fix the quoting there`, { cause: e });
      }
      throw e;
    } finally {
      close();
    }
    if (!header) throw new UsageError(`${this.file}: empty; a ${this.delimiter === '\t' ? 'TSV' : 'CSV'} file needs a header row naming its columns`);
  }

  private checkHeader(names: string[], line: number): string[] {
    const seen = new Set<string>();
    names.forEach((name, i) => {
      if (name.trim() === '') throw new UsageError(`${this.file}:${line}: header column ${i + 1} has no name; name every column`);
      if (seen.has(name)) throw new UsageError(`${this.file}:${line}: header names column "${name}" twice; column names must be unique`);
      seen.add(name);
    });
    return names;
  }
}
