import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, rm, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Writable } from 'node:stream';
import type { StoreReader } from '../checkpoint/store.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { crashPoint } from '../engine/crash-points.ts';
import { FatalRunError } from '../errors.ts';
import { STDIO } from '../options.ts';
import { fsyncPath, removeLeftovers, renameDurably, tempFileFor } from '../temp-file.ts';
import type { RowKeys } from '../input/recipe.ts';
import { CsvResults, inputColumns, type CsvShape } from './csv-output.ts';
import { isUnfinished, outputLine } from './output-line.ts';

export interface WriteResult {
  lines: number;
  unfinished: number;
}

export type LineFilter = 'all' | 'errors';

export type OutputFormat = 'jsonl' | 'csv';

/** `--format`, else from the file's extension: `.csv` is CSV, anything else JSONL. */
export function outputFormat(path: string, format: OutputFormat | undefined): OutputFormat {
  return format ?? (extname(path).toLowerCase() === '.csv' ? 'csv' : 'jsonl');
}

const PAGE = 1_000;

/** The CSV's columns: what was recorded with the batch when it was made, and the input columns its rows have. */
async function csvShape(store: StoreReader): Promise<CsvShape> {
  const o = JSON.parse((await store.batch())?.optionsJson ?? '{}') as { answerFields?: string[] | null; models?: string[]; samples?: number; rowKeys?: RowKeys };
  return {
    // A checkpoint made before rowKeys was recorded: the union of every row's keys is right for any input.
    inputColumns: await inputColumns(store, o.rowKeys === undefined ? 'rows' : o.rowKeys, PAGE),
    answerFields: o.answerFields ?? null,
    models: Array.isArray(o.models),
    samples: (o.samples ?? 1) > 1,
  };
}

/**
 * Writes the lines a page at a time, each page as one write: memory stays flat, and the store and
 * the stream are awaited once per page, not per line.
 */
async function writeLines(store: StoreReader, out: Writable, filter: LineFilter, format: OutputFormat): Promise<WriteResult> {
  const csv = format === 'csv' ? new CsvResults(await csvShape(store)) : undefined;
  let lines = 0;
  let unfinished = 0;
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  for (let after = -1, page = await store.resultsPage(after, PAGE); page.length > 0; page = await store.resultsPage(after, PAGE)) {
    const kept = filter === 'errors' ? page.filter((row) => row.state !== JOB_STATES.completed) : page;
    let text = csv && kept.length > 0 ? `${lines === 0 ? csv.header() : ''}${csv.lines(kept)}` : '';
    for (const row of kept) {
      if (isUnfinished(row)) unfinished++;
      if (!csv) text += `${outputLine(row)}\n`;
      lines++;
    }
    if (text !== '') await write(text);
    // One pass per line written, whatever a page holds.
    for (let i = 0; i < kept.length; i++) crashPoint('output-writing');
    after = page[page.length - 1]!.idx;
  }
  if (csv && lines === 0) await write(csv.header());
  return { lines, unfinished };
}

/**
 * `-`: the results go to stdout as they are read, and stdout stays open (the CLI's other output
 * is on stderr). A reader that goes away (EPIPE) loses nothing: the checkpoint holds every answer.
 */
async function writeToStdout(store: StoreReader, filter: LineFilter, format: OutputFormat): Promise<WriteResult> {
  const out = process.stdout;
  let failure: Error | undefined;
  const onError = (e: Error) => (failure ??= e);
  out.on('error', onError);
  try {
    const result = await writeLines(store, out, filter, format);
    await new Promise<void>((resolve, reject) => out.write('', (e) => (e ? reject(e) : resolve())));
    if (!failure) return result;
  } catch (e) {
    if (!failure) throw e;
  } finally {
    out.off('error', onError);
  }
  throw new FatalRunError(
    `stdout closed before all the results were written (${(failure as { code?: string }).code ?? failure.message}); the checkpoint holds them all: \`sailbatch export\` writes them again`,
    { cause: failure },
  );
}

/**
 * Writes the results in input order from the checkpoint (design invariants 4 and 5): to a
 * temporary file beside the target, fsynced, then renamed over it, and the folder fsynced, so a
 * reader sees the old file or the whole new one, never half of one; `-` is stdout. `errors`
 * writes only the lines of jobs that did not complete. CSV is written a page at a time (one
 * csv-stringify call per page). What killed writers of the same target left is removed first.
 */
export async function writeResults(store: StoreReader, path: string, filter: LineFilter = 'all', format: OutputFormat = 'jsonl'): Promise<WriteResult> {
  if (path === STDIO) return writeToStdout(store, filter, format);
  await removeLeftovers(path);
  // A file being replaced keeps its mode (a user's 0600 stays 0600); a new one gets the umask's.
  const mode = (await stat(path).catch(() => undefined))?.mode;
  const tmp = tempFileFor(path);
  const out = createWriteStream(tmp);
  try {
    const result = await writeLines(store, out, filter, format);
    out.end();
    await once(out, 'finish');
    if (mode !== undefined) await chmod(tmp, mode & 0o7777);
    await fsyncPath(tmp);
    await renameDurably(tmp, path);
    return result;
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}
