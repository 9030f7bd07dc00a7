import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isPostgresUrl, openStore } from '../checkpoint/open-store.ts';
import type { BatchMeta } from '../checkpoint/store.ts';
import { CheckpointError, UsageError } from '../errors.ts';
import { fsyncPath, removeLeftovers, renameDurably, tempFileFor } from '../temp-file.ts';
import { inputChange } from './input-change.ts';

/** The copy of a stdin input: beside the checkpoint, the file a rerun is checked against and may be resumed from. */
export function spoolPath(db: string): string {
  return `${db}.stdin`;
}

async function loadedBatch(db: string): Promise<BatchMeta | undefined> {
  if (!(await stat(db).catch(() => undefined))) return undefined;
  const store = await openStore(db, { readonly: true });
  try {
    const batch = await store.batch();
    return batch?.loadedAtMs ? batch : undefined;
  } finally {
    await store.close();
  }
}

/**
 * Copies stdin to the spool beside the checkpoint and returns its path, which the run then reads
 * as its input file. Piped data cannot be read twice, and a killed run must resume against what
 * it loaded, so the copy is kept: a rerun piping the same data again resumes, and so does a rerun
 * naming the spool itself; different data is refused before the copy of the batch's own input is
 * touched, as a changed input file is. The copy is 0600, like the checkpoint: it holds every prompt.
 */
export async function spoolStdin(stdin: Readable & { isTTY?: boolean }, db: string): Promise<string> {
  if (isPostgresUrl(db)) {
    throw new UsageError('reading the input from stdin (-) needs a SQLite --db: its copy is kept beside the checkpoint file, for reruns');
  }
  const target = spoolPath(db);
  await removeLeftovers(target);
  const tmp = tempFileFor(target);
  try {
    await copyStdin(stdin, tmp);
    const batch = await loadedBatch(db);
    const changed = batch && (await inputChange(batch, tmp));
    if (changed) {
      throw new CheckpointError(
        `stdin is not the input checkpoint ${db} was made from: ${changed}. To finish the original batch, pipe the same data again, ` +
          `or run its copy (sailbatch run ${target} with the same options). To run the new data, use another --db (or delete ${db} and ${target}).`,
      );
    }
    await renameDurably(tmp, target);
    return target;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Copies all of stdin to `file` (0600, fsynced); a terminal is refused rather than waited on. */
export async function copyStdin(stdin: Readable & { isTTY?: boolean }, file: string): Promise<string> {
  if (stdin.isTTY) {
    throw new UsageError('the input - is stdin, which is a terminal here: pipe the requests in (e.g. `generate | sailbatch run - ...`), or name the file');
  }
  await pipeline(stdin, createWriteStream(file, { mode: 0o600 }));
  await fsyncPath(file);
  return file;
}
