import type Database from 'better-sqlite3';
import type { SqliteBatchRecord } from './batch-record.ts';
import type { SqliteRunningTotals } from './running-totals.ts';

/** Counters that record what the batch's API key may have bought (see mayChangeKey). */
const KEY_COUNTERS = { sendingRuns: 'sending_runs', keyRejected: 'key_rejected' } as const;

/**
 * Whether a batch may move to another API key. Sail scopes idempotency keys per API key, so a
 * new key pays again for anything the old one bought; these counters remember whether it can
 * have bought anything.
 */
export class SqliteKeyBookkeeping {
  constructor(
    private readonly db: Database.Database,
    private readonly batch: SqliteBatchRecord,
    private readonly totals: SqliteRunningTotals,
  ) {}

  mayChangeKey(): boolean {
    const c = this.batch.counters();
    return !this.totals.anyAccepted() && (!c[KEY_COUNTERS.sendingRuns] || (c[KEY_COUNTERS.keyRejected] ?? 0) > 0);
  }

  changeKey(salt: string, fingerprint: string): void {
    this.db.transaction(() => {
      this.batch.setKey(salt, fingerprint);
      this.batch.bump({ [KEY_COUNTERS.keyRejected]: -(this.batch.counters()[KEY_COUNTERS.keyRejected] ?? 0) });
    })();
  }

  noteSendingRun(): void {
    this.batch.bump({ [KEY_COUNTERS.sendingRuns]: 1 });
  }

  noteKeyRejected(): void {
    if (!this.totals.anyAccepted()) this.batch.bump({ [KEY_COUNTERS.keyRejected]: 1 });
  }
}
