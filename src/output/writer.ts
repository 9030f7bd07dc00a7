import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { crashPoint } from '../engine/crash-points.ts';
import { isUnfinished, outputLine } from './output-line.ts';

export interface WriteResult {
  lines: number;
  unfinished: number;
}

export type LineFilter = 'all' | 'errors';

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
export async function writeResults(cp: Checkpoint, path: string, filter: LineFilter = 'all'): Promise<WriteResult> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const out = createWriteStream(tmp);
  let lines = 0;
  let unfinished = 0;
  try {
    for (const row of cp.jobsInOrder()) {
      if (filter === 'errors' && row.state === JOB_STATES.completed) continue;
      if (isUnfinished(row)) unfinished++;
      if (!out.write(`${outputLine(row)}\n`)) await once(out, 'drain');
      lines++;
      crashPoint('output-writing');
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
