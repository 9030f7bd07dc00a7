import { open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { processGone, processStartTime } from './process-liveness.ts';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The temporary file of one process writing `path` (the results, the copy of stdin):
 * `.<name>.<pid>-<start time>.tmp` beside it, so that a later writer of the same target can tell
 * the leftovers of killed writers (their process is gone) from the file of one still writing.
 */
export function tempFileFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${processStartTime() ?? '0'}.tmp`);
}

/** Removes the temporary files of `path` that writers since killed left behind. */
export async function removeLeftovers(path: string): Promise<void> {
  // Also `.<name>.<pid>.tmp`, the name before the start time was part of it.
  const mine = new RegExp(`^\\.${escapeRegExp(basename(path))}\\.(\\d+)(?:-(\\d+))?\\.tmp$`);
  for (const name of await readdir(dirname(path)).catch(() => [])) {
    const m = mine.exec(name);
    if (m && processGone(Number(m[1]), m[2] === '0' ? null : m[2])) {
      await rm(join(dirname(path), name), { force: true });
    }
  }
}

/**
 * Puts a finished temporary file (already fsynced) in place of `path`, and makes the rename itself
 * durable by fsyncing the folder: after a crash, the old file or the whole new one, never neither.
 */
export async function renameDurably(tmp: string, path: string): Promise<void> {
  await rename(tmp, path);
  await fsyncPath(dirname(path));
}

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
