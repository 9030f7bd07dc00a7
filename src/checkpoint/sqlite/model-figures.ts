import type Database from 'better-sqlite3';
import type { StateCounts } from '../store.ts';
import type { ModelFigures, TokenUsage } from '../summary.ts';
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
    const out: Record<string, ModelFigures> = {};
    const of = (model: string) => (out[model] ??= { jobs: 0, counts: {}, tokens: { input: 0, output: 0, cached: 0, reasoning: 0 } });
    for (const r of this.counts.all() as { model: string; state: keyof StateCounts; n: number }[]) {
      const m = of(r.model);
      m.jobs += r.n;
      m.counts[r.state] = r.n;
    }
    for (const r of this.tokens.all() as (TokenUsage & { model: string })[]) {
      of(r.model).tokens = { input: r.input, output: r.output, cached: r.cached, reasoning: r.reasoning };
    }
    return out;
  }
}
