import pg from 'pg';
import { CheckpointError } from '../../errors.ts';

/**
 * The URL as it may be shown: without its password. Every message that names a database goes
 * through this, so a password given in --db never reaches a terminal, a log or a checkpoint.
 */
export function redactUrl(db: string): string {
  try {
    const u = new URL(db);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return db.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

const BIGINT_OID = 20;

/** BIGINT columns (times in ms, counts) as numbers: every value sailbatch stores fits in 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === BIGINT_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * A pool on the database the URL names. The password comes from the URL or, as for psql, from
 * PGPASSWORD (pg reads the PG* variables itself); it is never written anywhere.
 */
export function openPool(db: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: db, max, types, application_name: 'sailbatch' });
  // An idle connection the server drops (restart, network) is replaced on next use; without a
  // listener its error event would crash the process.
  pool.on('error', () => {});
  return pool;
}

/** A driver error turned into one that names the database (without its password) and the fix. */
export function connectionError(db: string, e: unknown): CheckpointError {
  const err = e as { code?: string; message?: string };
  const where = redactUrl(db);
  const why = err.code === '28P01' || err.code === '28000'
    ? 'the server refused the user or password; put them in the URL or in PGPASSWORD'
    : err.code === '3D000'
      ? 'no such database; create it first (createdb) or fix the name in --db'
      : err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'ETIMEDOUT'
        ? `cannot reach the server (${err.code}); check the host and port in --db`
        : `${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`;
  return new CheckpointError(`${where}: ${why}`, { cause: e });
}

const RETRYABLE = new Set([
  '40P01', // deadlock_detected
  '40001', // serialization_failure
  '25P03', // idle_in_transaction_session_timeout: this process was paused inside the transaction
  '57P01', // admin_shutdown
]);

/** Whether a failed statement may simply run again (on another connection). */
export function retryable(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return (err.code !== undefined && RETRYABLE.has(err.code)) || /Connection terminated|not queryable|connection.*(ended|closed)/i.test(err.message ?? '');
}

/**
 * Runs `fn` in a transaction, again on a fresh connection when PostgreSQL gave it up:
 * - Two transactions of the fleet may lock the same rows in different orders (a heartbeat
 *   extending claims, an apply ending them, the per-state counts); PostgreSQL aborts one.
 * - A worker paused (SIGSTOP, a frozen VM) inside a transaction would hold its row locks for as
 *   long as it is paused and stall every other worker. `idleLimitMs` (the claim expiry) makes the
 *   server end such a transaction and its connection; the paused worker, when it resumes, runs
 *   the transaction again, where its claim guards decide what may still land.
 * Every transaction here is all-or-nothing and guarded, so running it again is safe.
 */
export async function inTransaction<T>(pool: pg.Pool, idleLimitMs: number, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const c = await pool.connect();
    let broken: Error | undefined;
    // The server may end the connection between two statements; the next one then fails and the
    // transaction runs again. Without a listener, the event itself would end the process.
    const onError = (e: Error) => (broken = e);
    c.on('error', onError);
    try {
      await c.query(`BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1000, Math.round(idleLimitMs))}`);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch((r: unknown) => (broken = r as Error));
      if (attempt < 5 && retryable(e)) continue;
      throw e;
    } finally {
      c.off('error', onError);
      c.release(broken);
    }
  }
}
