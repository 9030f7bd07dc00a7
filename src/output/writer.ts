import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { StoreReader } from '../checkpoint/store.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { crashPoint } from '../engine/crash-points.ts';
import { isUnfinished, outputLine } from './output-line.ts';

export interface WriteResult {
  lines: number;
  unfinished: number;
}

export type LineFilter = 'all' | 'errors';

const PAGE = 1_000;

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes the results in input order from the checkpoint (design invariants 4 and 5): to a
 * temporary file beside the target, fsynced, then renamed over it, and the folder fsynced, so a
 * reader sees the old file or the whole new one, never half of one. `errors` writes only the
 * lines of jobs that did not complete.
 */
export async function writeResults(store: StoreReader, path: string, filter: LineFilter = 'all'): Promise<WriteResult> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const out = createWriteStream(tmp);
  let lines = 0;
  let unfinished = 0;
  try {
    // A page at a time: memory stays flat, and the store is awaited once per page, not per line.
    for (let after = -1, page = await store.jobsPage(after, PAGE); page.length > 0; page = await store.jobsPage(after, PAGE)) {
      for (const row of page) {
        if (filter === 'errors' && row.state === JOB_STATES.completed) continue;
        if (isUnfinished(row)) unfinished++;
        if (!out.write(`${outputLine(row)}\n`)) await once(out, 'drain');
        lines++;
        crashPoint('output-writing');
      }
      after = page[page.length - 1]!.idx;
    }
    out.end();
    await once(out, 'finish');
    await fsyncPath(tmp);
    await rename(tmp, path);
    await fsyncPath(dirname(path));
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  return { lines, unfinished };
}
