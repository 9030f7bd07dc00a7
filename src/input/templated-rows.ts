import { ENDPOINT_KINDS, type Endpoint } from '../api/endpoints.ts';
import { UsageError } from '../errors.ts';
import type { LineSource, SourceItem } from './line-source.ts';
import { normalizeRequest, type LineDefaults } from './normalize.ts';
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

/**
 * Data rows rendered through a template: one request per row. A placeholder or id column that
 * names no column of the header is a usage error as soon as the header is read; a row whose
 * value for a used column is missing or empty is a bad line, reported like any other.
 */
export class TemplatedRowSource implements LineSource {
  constructor(
    private readonly rows: RowSource,
    private readonly o: TemplatedRowsOptions,
  ) {
    if (ENDPOINT_KINDS[o.endpoint].promptBody('', o.system) === null) {
      throw new UsageError("--system: Sail's /v1/messages endpoint does not accept a system prompt; put it in the template, or use --endpoint responses or chat");
    }
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

  async *items(): AsyncGenerator<SourceItem> {
    for await (const item of this.rows.rows()) {
      if (item.kind === 'columns') this.checkColumns(item.names);
      else if (item.kind === 'invalid') yield { kind: 'invalid', line: item.line, problems: [{ field: item.field, message: item.message }] };
      else yield this.request(item.line, item.n, item.row);
    }
  }

  private checkColumns(names: readonly string[]): void {
    const has = new Set(names);
    const missing = this.o.template.placeholders.filter((p) => !has.has(p));
    if (missing.length > 0) {
      throw new UsageError(
        `${this.o.templateName}: ${missing.map((m) => `{{${m}}}`).join(', ')} name${missing.length === 1 ? 's' : ''} no column of ${this.rows.file} ` +
          `(its columns: ${names.map((n) => `"${n}"`).join(', ')}); nothing was sent`,
      );
    }
    if (this.o.idColumn !== undefined && !has.has(this.o.idColumn)) {
      throw new UsageError(`--id-column "${this.o.idColumn}" names no column of ${this.rows.file} (its columns: ${names.map((n) => `"${n}"`).join(', ')})`);
    }
  }

  private request(line: number, n: number, row: Record<string, unknown>): SourceItem {
    let customId = `row-${n}`;
    if (this.o.idColumn !== undefined) {
      const id = valueAt(row, this.o.idColumn);
      const text = id === undefined || id === null ? '' : typeof id === 'string' ? id : JSON.stringify(id);
      if (text.trim() === '') return this.invalid(line, row, undefined, this.o.idColumn, id === undefined || id === null ? 'missing' : 'empty');
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
