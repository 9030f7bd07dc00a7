import { usagePathsOfAny } from '../../api/endpoints.ts';
import { TOKEN_FIELDS } from '../summary.ts';

/**
 * The one query shape for tokens in SQLite: the four sums (input, output, cached, reasoning) of
 * the usage stored results report, by the endpoints table's paths (the first present wins),
 * over the jobs `where` selects, grouped by `groupBy` (output name → SQL expression over a job).
 * Built when a store opens, so a new endpoint needs no migration. Only results whose `usage` is
 * an object count; the CASE keeps json_type away from text that is not JSON.
 */
export function usageSumsSql(where: string, groupBy: Readonly<Record<string, string>> = {}): string {
  const keys = Object.entries(groupBy);
  const sum = (field: (typeof TOKEN_FIELDS)[number]) =>
    `COALESCE(SUM(COALESCE(${usagePathsOfAny(field).map((p) => `json_extract(u, '$.${p}')`).join(', ')}, 0)), 0) AS ${field}`;
  return `
    SELECT ${[...keys.map(([name], i) => `k${i} AS ${name}`), ...TOKEN_FIELDS.map(sum)].join(', ')}
    FROM (
      SELECT ${[...keys.map(([, expr], i) => `${expr} AS k${i}`), `json_extract(result, '$.usage') AS u`].join(', ')}
      FROM jobs
      WHERE (${where}) AND CASE WHEN json_valid(result) THEN json_type(result, '$.usage') END = 'object'
    )
    ${keys.length > 0 ? `GROUP BY ${keys.map((_, i) => `k${i}`).join(', ')}` : ''}`;
}
