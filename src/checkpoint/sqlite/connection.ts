import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync } from 'node:fs';
import { CheckpointError } from '../../errors.ts';
import { assertSchemaReadable, migrate } from './migrations.ts';

function configure(db: Database.Database, file: string, readonly: boolean): void {
  if (readonly) {
    db.pragma('busy_timeout = 5000');
    assertSchemaReadable(db, file);
    return;
  }
  db.pragma('journal_mode = WAL');
  // The connection that switched to WAL keeps FULL unless told otherwise. NORMAL in WAL
  // survives a killed process (what the engine must survive); after an OS crash the
  // last transactions may be lost, which idempotency keys make safe (design invariant 3).
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db, file);
}

/**
 * Opens a checkpoint file: a writer migrates it to the current schema, a reader only checks
 * that it can read it. Driver errors become CheckpointErrors that say what to check.
 */
export function openDatabase(file: string, readonly: boolean): Database.Database {
  let db: Database.Database | undefined;
  try {
    // The checkpoint holds every prompt and answer: only its owner reads it. SQLite gives the
    // -wal and -shm files the mode of the database file.
    if (!readonly && !existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    db = new Database(file, { readonly, fileMustExist: readonly });
    configure(db, file, readonly);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof CheckpointError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new CheckpointError(`${file}: not a sailbatch checkpoint (${code}); check --db`, { cause: err });
    }
    // better-sqlite3 says "directory does not exist" for a missing folder, SQLITE_CANTOPEN for a missing file.
    if (readonly && (code === 'SQLITE_CANTOPEN' || (err as Error).message.includes('does not exist'))) {
      throw new CheckpointError(
        existsSync(file) ? `${file}: cannot open the checkpoint (${code}); check that it is readable` : `${file}: no such checkpoint; check --db`,
        { cause: err },
      );
    }
    throw err;
  }
}
