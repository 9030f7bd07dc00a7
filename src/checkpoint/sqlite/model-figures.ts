import type Database from 'better-sqlite3';
import type { StateCounts } from '../store.ts';
import { modelFiguresOf, type ModelFigures, type TokenUsage } from '../summary.ts';
import { usageSumsSql } from './usage-sums.ts';

const MODEL_COUNTS_SQL = 'SELECT model, state, COUNT(*) AS n FROM jobs WHERE model IS NOT NULL GROUP BY model, state';

/** The fan-out model (the `model` column), not the one the request names: --models sets both alike. */
const MODEL_TOKENS_SQL = usageSumsSql('model IS NOT NULL', { model: 'model' });

/**
 * Jobs per state and tokens per model, for the summary of an eval fan-out (--models). A scan of
 * the jobs, unlike the running totals: it is read once, at the end of such a run.
 */
export class SqliteModelFigures {
  private readonly counts: Database.Statement;
  private readonly tokens: Database.Statement;

  constructor(db: Database.Database) {
    this.counts = db.prepare(MODEL_COUNTS_SQL);
    this.tokens = db.prepare(MODEL_TOKENS_SQL);
  }

  read(): Record<string, ModelFigures> {
    return modelFiguresOf(
      this.counts.all() as { model: string; state: keyof StateCounts; n: number }[],
      this.tokens.all() as (TokenUsage & { model: string })[],
    );
  }
}
