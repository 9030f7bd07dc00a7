import { ENDPOINT_KINDS, type Endpoint } from '../api/endpoints.ts';
import { UsageError } from '../errors.ts';
import { JobBatchWriter, type JobBatch } from './job-batch.ts';
import type { LineSource, SourceItem } from './line-source.ts';
import { hasUnpairedSurrogate, normalizeRequest, type LineDefaults } from './normalize.ts';
import { prepareItem, type PrepareOptions } from './prepare-jobs.ts';
import type { RowSource } from './rows/row-source.ts';
import { valueAt, type Template } from './template.ts';

export interface TemplatedRowsOptions {
  template: Template;
  /** Where the template came from, for messages (a file, or "--prompt"). */
  templateName: string;
  /** Becomes a first `developer` message. */
  system?: string | undefined;
  endpoint: Endpoint;
  /** The column holding each row's custom_id; `row-<N>` when not given. */
  idColumn?: string | undefined;
  defaults: LineDefaults;
}

const KEYS_NAMED = 20;
/** Rows per batch of jobs: a batch is young garbage by the time the loader has stored it. */
const ROWS_PER_BATCH = 500;

const quoted = (names: Iterable<string>) => [...names].map((n) => `"${n}"`).join(', ');

/**
 * Data rows rendered through a template: one request per row. A placeholder or id column that
 * names no column of the header is a usage error as soon as the header is read; a row whose
 * value for a used column is missing or empty is a bad line, reported like any other.
 *
 * JSONL rows have no header: each row has its own keys, so a key missing from some rows is a bad
 * line there, while one that no row has at all is the same mistake as a column the header lacks
 * (a typo in the template, or the wrong file) and is the same usage error, once the whole file
 * has been read and before anything is sent, rather than one bad line per row.
 *
 * Rows are rendered and their jobs prepared on the main thread, unlike request lines: csv-parse
 * hands over records, not blocks of whole lines that a worker could take.
 */
export class TemplatedRowSource implements LineSource {
  /** Placeholders (and the id column) no row has had yet; JSONL only. */
  private readonly unseen: Set<string>;
  /** Keys the rows have had, for the message when a placeholder names none of them. */
  private readonly keysSeen = new Set<string>();

  constructor(
    private readonly rows: RowSource,
    private readonly o: TemplatedRowsOptions,
    private readonly prepare: PrepareOptions,
  ) {
    if (ENDPOINT_KINDS[o.endpoint].promptBody('', o.system) === null) {
      throw new UsageError("--system: Sail's /v1/messages endpoint does not accept a system prompt; put it in the template, or use --endpoint responses or chat");
    }
    this.unseen = new Set([...o.template.placeholders, ...(o.idColumn === undefined ? [] : [o.idColumn])]);
  }

  get file(): string {
    return this.rows.file;
  }

  get bytesRead(): number {
    return this.rows.bytesRead;
  }

  sha256(): string {
    return this.rows.sha256();
  }

  async *batches(): AsyncGenerator<JobBatch> {
    const out = new JobBatchWriter();
    let n = 0;
    for await (const item of this.items()) {
      prepareItem(item, this.prepare, out);
      if (++n % ROWS_PER_BATCH === 0) yield out.take();
    }
    if (out.length > 0) yield out.take();
  }

  private async *items(): AsyncGenerator<SourceItem> {
    let header = false;
    let rows = 0;
    for await (const item of this.rows.rows()) {
      if (item.kind === 'columns') {
        this.checkColumns(item.names);
        header = true;
      } else if (item.kind === 'invalid') yield { kind: 'invalid', line: item.line, problems: [{ field: item.field, message: item.message }] };
      else {
        rows++;
        if (!header && this.unseen.size > 0) this.noteKeys(item.row);
        yield this.request(item.line, item.n, item.row);
      }
    }
    if (!header && rows > 0) this.checkKeysSeen();
  }

  private noteKeys(row: Record<string, unknown>): void {
    for (const p of this.unseen) if (valueAt(row, p) !== undefined) this.unseen.delete(p);
    if (this.keysSeen.size < KEYS_NAMED) for (const k of Object.keys(row)) if (this.keysSeen.size < KEYS_NAMED) this.keysSeen.add(k);
  }

  private checkKeysSeen(): void {
    if (this.unseen.size === 0) return;
    const keys = `its rows' keys: ${quoted(this.keysSeen)}${this.keysSeen.size >= KEYS_NAMED ? ', …' : ''}`;
    const idColumn = this.o.idColumn !== undefined && this.unseen.has(this.o.idColumn) ? this.o.idColumn : undefined;
    const missing = this.o.template.placeholders.filter((p) => this.unseen.has(p));
    if (missing.length > 0) {
      throw new UsageError(
        `${this.o.templateName}: ${missing.map((m) => `{{${m}}}`).join(', ')} name${missing.length === 1 ? 's' : ''} a key that no row of ${this.rows.file} has ` +
          `(${keys}); fix the template or the file; nothing was sent`,
      );
    }
    throw new UsageError(`--id-column "${idColumn}" names a key that no row of ${this.rows.file} has (${keys}); nothing was sent`);
  }

  private checkColumns(names: readonly string[]): void {
    const has = new Set(names);
    const missing = this.o.template.placeholders.filter((p) => !has.has(p));
    if (missing.length > 0) {
      throw new UsageError(
        `${this.o.templateName}: ${missing.map((m) => `{{${m}}}`).join(', ')} name${missing.length === 1 ? 's' : ''} no column of ${this.rows.file} ` +
          `(its columns: ${quoted(names)}); nothing was sent`,
      );
    }
    if (this.o.idColumn !== undefined && !has.has(this.o.idColumn)) {
      throw new UsageError(`--id-column "${this.o.idColumn}" names no column of ${this.rows.file} (its columns: ${quoted(names)})`);
    }
  }

  private request(line: number, n: number, row: Record<string, unknown>): SourceItem {
    let customId = `row-${n}`;
    if (this.o.idColumn !== undefined) {
      const id = valueAt(row, this.o.idColumn);
      const text = id === undefined || id === null ? '' : typeof id === 'string' ? id : JSON.stringify(id);
      if (text.trim() === '') return this.invalid(line, row, undefined, this.o.idColumn, id === undefined || id === null ? 'missing' : 'empty');
      if (hasUnpairedSurrogate(text)) return this.invalid(line, row, undefined, this.o.idColumn, 'not valid Unicode text (an unpaired surrogate escape)');
      customId = text;
    }
    const rendered = this.o.template.render(row);
    if ('problem' in rendered) return this.invalid(line, row, customId, rendered.placeholder, rendered.problem);
    const result = normalizeRequest(customId, this.o.endpoint, ENDPOINT_KINDS[this.o.endpoint].promptBody(rendered.text, this.o.system)!, '', this.o.defaults);
    if (!result.ok) return { kind: 'invalid', line, problems: result.problems, customId, row };
    return { kind: 'request', line, request: result.value, row };
  }

  /** A bad row keeps its custom_id where it could be read, so its error line still joins back. */
  private invalid(line: number, row: Record<string, unknown>, customId: string | undefined, column: string, message: string): SourceItem {
    return { kind: 'invalid', line, problems: [{ field: `column "${column}"`, message }], customId, row };
  }
}
