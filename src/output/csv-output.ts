import { stringify } from 'csv-stringify/sync';
import type { ResultRow, StoreReader } from '../checkpoint/store.ts';
import type { RowKeys } from '../input/recipe.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { isUnfinished } from './output-line.ts';

/** What decides the CSV's columns. */
export interface CsvShape {
  /** The input row's columns (request lines: `custom_id`). */
  inputColumns: readonly string[];
  /** The answer schema's top-level fields; null: one `output_text` column. */
  answerFields: readonly string[] | null;
  /** Fan-out: `model` and `sample` columns. */
  models: boolean;
  samples: boolean;
}

type Json = Record<string, unknown>;

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function parseObject(text: string | null): Json | undefined {
  if (text === null) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The input columns of the rows in the checkpoint, in order of first appearance. A header's
 * columns are those of the first row kept (a row that could not be read keeps none); JSONL rows
 * may each have other keys, so all of them are read, or a key first seen late would be dropped.
 */
export async function inputColumns(store: StoreReader, rowKeys: RowKeys, page: number): Promise<string[]> {
  const names = new Set<string>();
  if (rowKeys !== null) {
    for (let after = -1, jobs = await store.resultsPage(after, page); jobs.length > 0; jobs = await store.resultsPage(after, page)) {
      for (const job of jobs) {
        const row = parseObject(job.sourceRow);
        if (!row) continue;
        for (const k of Object.keys(row)) names.add(k);
        if (rowKeys === 'header') return [...names];
      }
      after = jobs[jobs.length - 1]!.idx;
    }
  }
  return names.size > 0 ? [...names] : ['custom_id'];
}

/**
 * Results as a dataset: one CSV row per job in input order, the input row's columns first, then
 * the answer (the parsed answer's top-level fields, nested values as JSON text; without a schema
 * the answer's text), then `status` and `error`. Quoting is csv-stringify's (RFC 4180), so
 * commas, quotes and newlines in prompts and answers survive a round trip.
 */
export class CsvResults {
  constructor(private readonly shape: CsvShape) {}

  header(): string {
    const answer = this.shape.answerFields ?? ['output_text'];
    return stringify([[...this.shape.inputColumns, ...(this.shape.models ? ['model'] : []), ...(this.shape.samples ? ['sample'] : []), ...answer, 'status', 'error']]);
  }

  lines(rows: readonly ResultRow[]): string {
    return stringify(rows.map((r) => this.record(r)));
  }

  private record(r: ResultRow): string[] {
    const row = parseObject(r.sourceRow) ?? { custom_id: r.customId };
    const out = this.shape.inputColumns.map((c) => cell(row[c]));
    if (this.shape.models) out.push(cell(r.model));
    if (this.shape.samples) out.push(cell(r.sample));
    if (this.shape.answerFields) {
      const parsed = parseObject(r.parsed) ?? {};
      for (const f of this.shape.answerFields) out.push(cell(parsed[f]));
    } else {
      out.push(r.state === JOB_STATES.completed ? cell(parseObject(r.result)?.['output_text']) : '');
    }
    const unfinished = isUnfinished(r);
    out.push(unfinished ? 'not_finished' : r.state);
    out.push(r.state === JOB_STATES.completed ? '' : unfinished ? `job is still ${r.state}; rerun \`sailbatch run\` with the same arguments to finish it` : `${r.errorCode ?? r.state}: ${r.errorMessage ?? ''}`);
    return out;
  }
}
