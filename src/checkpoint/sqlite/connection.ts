import type Database from 'better-sqlite3';
import { accessSync, closeSync, constants, existsSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { idempotencyKey, storedBodySha256 } from '../../api/idempotency-key.ts';
import { CheckpointError } from '../../errors.ts';
import { assertSchemaReadable, migrate } from './migrations.ts';

/**
 * The driver, a CommonJS package, is required rather than imported: Node 20 loads CommonJS that an
 * ES module imports through its ES module loader, lexing each of the package's files for export
 * names and resolving each inner require there. A plain require spares `sailbatch status` about
 * 4% of its instructions.
 */
const BetterSqlite3 = createRequire(import.meta.url)('better-sqlite3') as typeof Database;

/**
 * What the reads of a job loaded without its body's hash (schema v8) and key (v7) derive them
 * with; both are NULL for a job without a request (an invalid line).
 * - `body_hash(body)`: the hash of the body's text.
 * - `attempt_key(namespace, custom_id, attempt, body_sha256)`: the idempotency key. Without the
 *   batch's namespace (a file whose load an OS crash cut short) there is no key to give: a
 *   made-up one would be sent, or shown, as if it were the job's.
 */
function defineDerivations(db: Database.Database, file: string): void {
  db.function('body_hash', { deterministic: true }, (body: unknown) => (typeof body === 'string' ? storedBodySha256(body) : null));
  db.function('attempt_key', { deterministic: true }, (namespace: unknown, customId: unknown, attempt: unknown, bodySha256: unknown) => {
    if (typeof customId !== 'string' || typeof bodySha256 !== 'string') return null;
    if (typeof namespace !== 'string') {
      throw new CheckpointError(`${file}: the checkpoint holds jobs but no batch (a load that did not finish); \`sailbatch run\` starts it over`);
    }
    return idempotencyKey({ namespace, customId, attempt: attempt as number, bodySha256 });
  });
}

function configure(db: Database.Database, file: string, readonly: boolean): void {
  defineDerivations(db, file);
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
 * While a batch loads, SQLite's checkpoints skip their fsyncs (`synchronous = OFF`), which cost
 * the load about 8% of its time at a million lines. Nothing has been sent yet, and the next run
 * starts a load that did not finish over from a new file (runner.ts), so neither a killed process
 * nor an OS crash loses anything; a file the crash left unreadable gets the storage error, which
 * says to delete it.
 */
export function deferSyncs(db: Database.Database): void {
  db.pragma('synchronous = OFF');
}

/**
 * How often a checkpoint held up is tried again before the load gives up, and the wait before the
 * first retry (doubled each time): readers hold a FULL checkpoint up through the busy timeout, but
 * another connection's checkpoint (one closing its handle) makes it give up at once.
 */
const DURABLE_ATTEMPTS = 4;
const DURABLE_RETRY_MS = 250;

/**
 * Puts back the running mode's syncs, with everything written so far on disk. A checkpoint under
 * OFF copied pages to the database file without syncing it, then let the WAL start over on top of
 * their frames. A FULL checkpoint syncs the WAL, copies its frames and syncs the database file,
 * which takes those earlier pages to disk too. SQLite syncs nothing when no frame is left to
 * copy, so `write` must change the database (a write of the values a row already has writes no
 * frame); the commit after it may itself checkpoint, then under NORMAL, with the same syncs.
 */
export async function restoreSyncs(db: Database.Database, file: string, write: () => void): Promise<void> {
  db.pragma('synchronous = NORMAL');
  write();
  for (let attempt = 1; ; attempt++) {
    const [r] = db.pragma('wal_checkpoint(FULL)') as { busy: number; log: number; checkpointed: number }[];
    // -1: not in WAL mode (a file system without shared memory), where that NORMAL commit synced the file itself.
    if (r!.log === -1 || (r!.busy === 0 && r!.checkpointed === r!.log)) return;
    if (attempt === DURABLE_ATTEMPTS) {
      throw new CheckpointError(`${file}: could not write the loaded batch to disk while other processes kept reading the checkpoint; rerun this command (it loads the input again)`);
    }
    await sleep(DURABLE_RETRY_MS * 2 ** (attempt - 1));
  }
}

function writableFolder(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
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
    db = new BetterSqlite3(file, { readonly, fileMustExist: readonly });
    configure(db, file, readonly);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof CheckpointError) throw err;
    const code = (err as { code?: string }).code;
    if (readonly && code === 'SQLITE_CANTOPEN' && existsSync(file) && !writableFolder(dirname(file))) {
      throw new CheckpointError(
        `${file}: cannot open the checkpoint read-only: it is in WAL mode, and SQLite needs ${file}-shm beside it, ` +
          `which ${dirname(file)} does not allow (a read-only medium?). Copy the checkpoint (with ${file}-wal if there is one) ` +
          `to a writable folder and give --db the copy.`,
        { cause: err },
      );
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
