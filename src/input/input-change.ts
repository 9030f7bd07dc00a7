import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { BatchMeta } from '../checkpoint/store.ts';
import { UsageError } from '../errors.ts';

/** The SHA-256 of a file's content, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * How `file` differs from the input a batch was loaded from (size first, the SHA-256 only when
 * the sizes agree), or undefined when it is the same content, wherever it lies.
 */
export async function inputChange(batch: Pick<BatchMeta, 'inputBytes' | 'inputSha256'>, file: string): Promise<string | undefined> {
  const s = await stat(file).catch((e: unknown) => {
    throw new UsageError(`${file}: cannot read the input file (${(e as Error).message})`, { cause: e });
  });
  if (s.size !== batch.inputBytes) return `its size changed from ${batch.inputBytes} to ${s.size} bytes`;
  return (await sha256File(file)) !== batch.inputSha256 ? 'its content changed (same size, different SHA-256)' : undefined;
}
