/**
 * A source of data rows (CSV, TSV, JSONL objects), before any template: what the templated
 * request source renders into requests. `n` is the 1-based data row number (the header is not
 * a row), `line` the physical line where the row starts, for messages.
 */
export type RowItem =
  /** The header, before any row (CSV/TSV only): the columns a template may name. */
  | { kind: 'columns'; names: readonly string[] }
  | { kind: 'row'; line: number; n: number; row: Record<string, unknown> }
  | { kind: 'invalid'; line: number; n: number; field: string; message: string };

export interface RowSource {
  readonly file: string;
  rows(): AsyncIterable<RowItem>;
  /** Bytes read so far (for progress). */
  readonly bytesRead: number;
  /** SHA-256 of every byte read: the data file's fingerprint once rows() is exhausted. */
  sha256(): string;
}
