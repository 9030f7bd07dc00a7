import { openStore } from '../checkpoint/open-store.ts';
import { UsageError } from '../errors.ts';
import { assertDistinctTargets } from './targets.ts';
import { outputFormat, writeResults, type OutputFormat } from './writer.ts';

export interface ExportOptions {
  /** Also write the lines of jobs that did not complete to this file. */
  errors?: string | undefined;
  /** Default: from each file's extension (.csv → csv, else jsonl). */
  format?: OutputFormat | undefined;
  /** Which batch of a PostgreSQL database (default: its only one). */
  batch?: number | undefined;
}

export interface ExportResult {
  /** Lines written to the output: one per input line. */
  lines: number;
  /** Jobs still pending or submitted, written with error code `not_finished`. */
  unfinished: number;
  /** Lines written to the errors file (when asked for). */
  errorLines: number | undefined;
}

/** The writer reports a bad target as a raw fs error; say which file and what to do. */
function asUsageError(e: unknown, path: string): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'ENOENT') return new UsageError(`${path}: its folder does not exist; create it first`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new UsageError(`${path}: not writable (${code}); choose another path`, { cause: e });
  if (code === 'EISDIR') return new UsageError(`${path}: is a folder; give a file path`, { cause: e });
  return e;
}

/**
 * Writes a checkpoint's results in input order, at any time: while a run is going (the
 * checkpoint is opened read-only, so it is not disturbed) or after it. Unfinished jobs get an
 * output line with error code `not_finished`, so line N still answers input line N.
 */
export async function exportResults(db: string, output: string, options: ExportOptions = {}): Promise<ExportResult> {
  assertDistinctTargets({ db, output, errors: options.errors });
  const store = await openStore(db, { readonly: true, batch: options.batch === undefined ? undefined : { id: options.batch } });
  try {
    // One snapshot across both files, so that the errors file agrees with the output even if
    // the run finishes more jobs between the two.
    return await store.snapshot(async (r) => {
      const all = await writeResults(r, output, 'all', outputFormat(output, options.format)).catch((e: unknown) => {
        throw asUsageError(e, output);
      });
      let errorLines: number | undefined;
      const errors = options.errors;
      if (errors !== undefined) {
        errorLines = (
          await writeResults(r, errors, 'errors', outputFormat(errors, options.format)).catch((e: unknown) => {
            throw asUsageError(e, errors);
          })
        ).lines;
      }
      return { lines: all.lines, unfinished: all.unfinished, errorLines };
    });
  } finally {
    await store.close();
  }
}
