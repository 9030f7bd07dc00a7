import { resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { STDIO } from '../options.ts';

/**
 * Refuses output paths that would destroy something: the checkpoint (or its journal), the
 * input, or each other. Checked before anything is sent or written.
 */
export function assertDistinctTargets(t: { db: string; output: string; errors?: string | undefined; input?: string | undefined }): void {
  const checkpointFiles = ['', '-wal', '-shm'].map((suffix) => resolve(t.db + suffix));
  for (const target of [t.output, t.errors]) {
    if (target === undefined || target === STDIO) continue;
    if (checkpointFiles.includes(resolve(target))) {
      throw new UsageError(`${target}: is the checkpoint itself (or its journal); give another path to write the results to`);
    }
    if (t.input !== undefined && resolve(target) === resolve(t.input)) {
      throw new UsageError(`${target}: is the input file; writing results there would destroy it; give another path`);
    }
  }
  if (t.errors !== undefined && resolve(t.errors) === resolve(t.output)) {
    throw new UsageError(`${t.errors}: the errors file cannot be the output file too; give it another path`);
  }
}
