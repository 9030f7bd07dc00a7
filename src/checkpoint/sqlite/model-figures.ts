import type Database from 'better-sqlite3';
import { ENDPOINT_KINDS, type UsagePaths } from '../../api/endpoints.ts';
import type { StateCounts } from '../store.ts';
import type { ModelFigures, TokenUsage } from '../summary.ts';

export function usageSum(field: keyof UsagePaths): string {
  const paths = [...new Set(Object.values(ENDPOINT_KINDS).flatMap((k) => k.usage[field]))];
  return `COALESCE(SUM(COALESCE(${paths.map((p) => `json_extract(u, '$.${p}')`).join(', ')}, 0)), 0) AS ${field}`;
}

const MODEL_COUNTS_SQL = 'SELECT model, state, COUNT(*) AS n FROM jobs WHERE model IS NOT NULL GROUP BY model, state';

const MODEL_TOKENS_SQL = `
  SELECT model, ${(['input', 'output', 'cached', 'reasoning'] as const).map(usageSum).join(', ')}
  FROM (
    SELECT model, json_extract(result, '$.usage') AS u FROM jobs
    WHERE model IS NOT NULL AND CASE WHEN json_valid(result) THEN json_type(result, '$.usage') END = 'object'
  )
  GROUP BY model`;

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
