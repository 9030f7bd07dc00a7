import { CheckpointError } from '../errors.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';
import type { BatchStore, OpenStoreOptions } from './store.ts';

/** Whether a `--db` value names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/**
 * Opens the store a `--db` value names: a `postgres://` or `postgresql://` URL is a PostgreSQL
 * database, anything else a SQLite checkpoint file.
 */
export async function openStore(db: string, options: OpenStoreOptions = {}): Promise<BatchStore> {
  if (isPostgresUrl(db)) {
    throw new CheckpointError('a PostgreSQL --db is not available in this build yet; give a SQLite file path');
  }
  return SqliteStore.open(db, options);
}
