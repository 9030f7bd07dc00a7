import { dirname } from 'node:path';
import { CheckpointDamagedError, NoSpaceError, SailbatchError } from '../../errors.ts';

const DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;

/**
 * What a failing SQLite call means for the user: a full disk (free space, rerun: everything
 * committed is kept) or a damaged file (what it is, how to check it, how to start over), rather
 * than a driver error and a stack trace. Anything else passes through unchanged.
 */
export function storageError(e: unknown, file: string): unknown {
  if (e instanceof SailbatchError) return e;
  const code = (e as { code?: string }).code ?? '';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') {
    return new NoSpaceError(
      `no space left on ${dirname(file)} (writing the checkpoint ${file}); free some space and rerun the same command: everything already saved is kept`,
      { cause: e },
    );
  }
  if (DAMAGED.test(code)) {
    return new CheckpointDamagedError(
      `${file}: the checkpoint is damaged or not a sailbatch checkpoint (${code}: ${(e as Error).message}). ` +
        `It is the SQLite file holding this batch's jobs, response ids and results. Check it with ` +
        `\`sqlite3 ${file} 'PRAGMA integrity_check'\`, or start over with another --db (or after deleting it): ` +
        `lines already sent are answered from Sail's idempotency store, so the rerun does not pay for them again.`,
      { cause: e },
    );
  }
  return e;
}

/**
 * The store with every method's failure passed through `storageError`: one place for all of
 * them, whichever command (run, status, export, retry) met the full disk or the damaged page.
 */
export function withStorageErrors<T extends object>(store: T, file: string): T {
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        try {
          const result: unknown = value.apply(target, args);
          return result instanceof Promise ? result.catch((e: unknown) => Promise.reject(storageError(e, file))) : result;
        } catch (e) {
          throw storageError(e, file);
        }
      };
    },
  });
}
