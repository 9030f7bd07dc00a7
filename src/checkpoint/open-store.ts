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
    // Loaded only when asked for: a SQLite command does not pay for the PostgreSQL driver.
    const { PostgresStore } = await import('./postgres/postgres-store.ts');
    return PostgresStore.open(db, options);
  }
  return SqliteStore.open(db, options);
}
