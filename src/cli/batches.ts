import { isPostgresUrl } from '../checkpoint/open-store.ts';
import { PostgresStore, type BatchListing } from '../checkpoint/postgres/postgres-store.ts';
import { EXIT, UsageError } from '../errors.ts';
import { runOptionsSchema } from '../options.ts';
import { formatCount, formatDuration } from '../human-format.ts';
import type { BatchesArgs } from './batches-command.ts';
import type { CliIo } from './io.ts';

/** For batches that recorded no lease staleness of their own. */
const DEFAULT_STALE_MS = runOptionsSchema.shape.leaseStaleMs.parse(undefined);

function describe(b: BatchListing, now: number): string {
  const done = b.total - b.unfinished;
  const progress = b.loadedAtMs === null ? 'loading' : `${formatCount(done)} of ${formatCount(b.total)} finished`;
  const workers = b.liveWorkers === 0 ? 'no live worker' : `${b.liveWorkers} live worker${b.liveWorkers === 1 ? '' : 's'}`;
  return `${String(b.id).padEnd(5)} ${`${b.inputPath} (${b.namespace})`.padEnd(40)} ${progress.padEnd(28)} ${workers.padEnd(16)} created ${formatDuration(now - b.createdAtMs)} ago`;
}

export async function executeBatches(args: BatchesArgs, io: CliIo): Promise<number> {
  if (!isPostgresUrl(args.db)) {
    throw new UsageError(`--db ${args.db}: \`batches\` lists the batches of a PostgreSQL database (postgres://...); a SQLite checkpoint holds one batch, see \`sailbatch status --db ${args.db}\``);
  }
  const { location, batches } = await PostgresStore.listBatches(args.db, DEFAULT_STALE_MS);
  if (args.json) io.result = { batches };
  else if (batches.length === 0) io.stdout.write(`no batches in ${location}\n`);
  else {
    const now = Date.now();
    io.stdout.write(`${'batch'.padEnd(5)} ${'input (namespace)'.padEnd(40)} ${'jobs'.padEnd(28)} ${'workers'.padEnd(16)} age\n`);
    for (const b of batches) io.stdout.write(`${describe(b, now)}\n`);
  }
  return EXIT.ok;
}
