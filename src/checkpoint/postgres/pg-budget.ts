import type pg from 'pg';
import type { BudgetShare, SharedBudget } from '../store.ts';
import { inTransaction } from './pg-connection.ts';

/**
 * The fleet's budget in the batch row and the `workers` table. Each live worker (heartbeat
 * within `staleMs`) has a fair share of the batch's concurrency (an even split, the remainder to
 * the first workers by owner), but takes only what the other live workers' recorded `slots`
 * leave free, under the batch row's lock. A worker records at least what it may have in flight
 * until its new share applies, so a worker whose share shrank keeps its slots until its requests
 * drain: the sum of what the workers may have in flight never exceeds the batch's concurrency.
 * Requests per second follow the concurrency share. A dead worker's slots return when its heartbeat goes stale.
 */
export class PgSharedBudget implements SharedBudget {
  constructor(
    private readonly pool: pg.Pool,
    private readonly batchId: number,
    private readonly staleMs: () => number,
  ) {}

  renew(owner: string, holding: number): Promise<BudgetShare> {
    return inTransaction(this.pool, this.staleMs(), async (c) => {
      const now = Date.now();
      const batch = (
        await c.query<{ concurrency: number; maxRps: number; pausedUntilMs: number; rateLimits: number }>(
          `SELECT concurrency, max_rps AS "maxRps", pause_until_ms AS "pausedUntilMs", rate_limits AS "rateLimits"
           FROM batches WHERE id = $1 FOR UPDATE`,
          [this.batchId],
        )
      ).rows[0]!;
      const live = (
        await c.query<{ owner: string; slots: number }>(
          'SELECT owner, slots FROM workers WHERE batch_id = $1 AND (heartbeat_ms >= $2 OR owner = $3) ORDER BY owner',
          [this.batchId, now - this.staleMs(), owner],
        )
      ).rows;
      const rank = Math.max(0, live.findIndex((w) => w.owner === owner));
      const n = Math.max(1, live.length);
      const fair = Math.floor(batch.concurrency / n) + (rank < batch.concurrency % n ? 1 : 0);
      const others = live.reduce((sum, w) => sum + (w.owner === owner ? 0 : w.slots), 0);
      const concurrency = Math.max(0, Math.min(fair, batch.concurrency - others));
      await c.query(
        `INSERT INTO workers (batch_id, owner, host, pid, started_at_ms, heartbeat_ms, slots) VALUES ($1, $2, '', 0, $3, $3, $4)
         ON CONFLICT (batch_id, owner) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, slots = excluded.slots`,
        [this.batchId, owner, now, Math.max(concurrency, holding)],
      );
      const perSecond = batch.maxRps <= 0 ? 0 : (batch.maxRps * Math.max(1, concurrency)) / batch.concurrency;
      return { concurrency, maxPerSecond: perSecond, pausedUntilMs: batch.pausedUntilMs, rateLimits: batch.rateLimits };
    });
  }

  async rateLimited(untilMs: number): Promise<void> {
    await this.pool.query(
      'UPDATE batches SET pause_until_ms = GREATEST(pause_until_ms, $2), rate_limits = rate_limits + 1 WHERE id = $1',
      [this.batchId, untilMs],
    );
  }
}
