import type Database from 'better-sqlite3';
import { hostname } from 'node:os';
import { CheckpointBusyError } from '../../errors.ts';
import { holderGone, processStartTime } from '../../process-liveness.ts';
import type { LeaseInfo } from '../store.ts';

function writeStatements(db: Database.Database) {
  return {
    put: db.prepare(
      `INSERT INTO lease (id, owner, pid, host, heartbeat_ms, pid_started) VALUES (1, @owner, @pid, @host, @now, @started)
       ON CONFLICT (id) DO UPDATE SET owner = @owner, pid = @pid, host = @host, heartbeat_ms = @now, pid_started = @started`,
    ),
    beat: db.prepare('UPDATE lease SET heartbeat_ms = @now WHERE id = 1 AND owner = @owner'),
    drop: db.prepare('DELETE FROM lease WHERE id = 1 AND owner = ?'),
  };
}

/**
 * The one-runner lease of a SQLite checkpoint: at most one row, naming the process that runs the
 * batch and when it last said so. Claims need nothing more in this store (see SqliteJobStore).
 */
export class SqliteLease {
  private readonly get: Database.Statement;
  private readonly wStmts: ReturnType<typeof writeStatements> | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    readonly: boolean,
  ) {
    this.get = db.prepare('SELECT owner, pid, host, heartbeat_ms AS heartbeatMs, pid_started AS pidStarted FROM lease WHERE id = 1');
    if (!readonly) this.wStmts = writeStatements(db);
  }

  private get w(): ReturnType<typeof writeStatements> {
    return this.wStmts!;
  }

  /**
   * Takes the run lease, or throws CheckpointBusyError naming the holder. A lease whose
   * heartbeat is older than `staleMs` belongs to a process that died; it is taken over. So is
   * one held by a process of this machine that no longer exists, so that a rerun after a crash
   * does not have to wait out the heartbeat.
   */
  acquire(owner: string, staleMs: number): void {
    const now = Date.now();
    this.db
      .transaction(() => {
        const cur = this.current();
        if (cur && cur.owner !== owner && now - cur.heartbeatMs < staleMs && !holderGone(cur)) {
          const ageS = Math.max(0, Math.round((now - cur.heartbeatMs) / 1000));
          throw new CheckpointBusyError(
            `${this.file}: checkpoint is in use by another run (pid ${cur.pid} on ${cur.host}, ` +
              `heartbeat ${ageS}s ago). Wait for it to finish, or use \`sailbatch status\` to watch it; ` +
              `if that process is gone, the lease becomes free ${Math.ceil(staleMs / 1000)}s after its last heartbeat.`,
          );
        }
        this.w.put.run({ owner, pid: process.pid, host: hostname(), now, started: processStartTime() });
      })
      .immediate();
  }

  heartbeat(owner: string): boolean {
    return this.w.beat.run({ owner, now: Date.now() }).changes === 1;
  }

  release(owner: string): void {
    this.w.drop.run(owner);
  }

  current(): LeaseInfo | undefined {
    return this.get.get() as LeaseInfo | undefined;
  }
}
