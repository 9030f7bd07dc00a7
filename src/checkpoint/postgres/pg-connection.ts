import pg from 'pg';
import { CheckpointError } from '../../errors.ts';

/** Whether a --db value names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

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
