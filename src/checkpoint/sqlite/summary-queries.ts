import type Database from 'better-sqlite3';
import { ENDPOINT_KINDS, type UsagePaths } from '../../api/endpoints.ts';
import type { TokenUsage } from '../summary.ts';

/*
 * Usage lives in the stored final response object, under field names that differ per endpoint
 * (the endpoints table lists them); the tests check these sums against a JS reading of every
 * result. `$.usage` is extracted once per row in the inner query so the (possibly large) result
 * text is parsed once, and the outer paths read only the small usage object. json_valid keeps
 * one malformed row from failing the whole summary.
 */
function usageSum(field: keyof UsagePaths): string {
  const paths = [...new Set(Object.values(ENDPOINT_KINDS).flatMap((k) => k.usage[field]))];
  return `COALESCE(SUM(COALESCE(${paths.map((p) => `json_extract(u, '$.${p}')`).join(', ')}, 0)), 0) AS ${field}`;
}

const TOKENS_SQL = `
  SELECT ${(['input', 'output', 'cached', 'reasoning'] as const).map(usageSum).join(',\n    ')}
  FROM (
    SELECT json_extract(result, '$.usage') AS u FROM jobs WHERE result IS NOT NULL AND json_valid(result)
  )
  WHERE u IS NOT NULL`;

const POLLS_SQL = `
  SELECT
    COALESCE(SUM(poll_count), 0) AS total,
    COALESCE(MAX(poll_count), 0) AS max,
    COUNT(submitted_at_ms) AS background,
    MAX(finished_at_ms) AS lastFinishedAtMs
  FROM jobs`;

/** The summary's sums over every job (see SummaryFigures). */
export class SqliteSummaryQueries {
  private readonly tokensStmt: Database.Statement;
  private readonly pollsStmt: Database.Statement;

  constructor(db: Database.Database) {
    this.tokensStmt = db.prepare(TOKENS_SQL);
    this.pollsStmt = db.prepare(POLLS_SQL);
  }

  tokens(): TokenUsage {
    return this.tokensStmt.get() as TokenUsage;
  }

  polls(): { total: number; max: number; background: number; lastFinishedAtMs: number | null } {
    return this.pollsStmt.get() as { total: number; max: number; background: number; lastFinishedAtMs: number | null };
  }
}
