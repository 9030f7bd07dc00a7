import { usagePathsOfAny, type UsagePaths } from '../api/endpoints.ts';
import { NO_TOKENS, type TokenUsage } from '../checkpoint/summary.ts';

/** Every endpoint's usage paths together, in table order: what the store's SQL sums read whatever the job's endpoint. */
const ANY_ENDPOINT: UsagePaths = {
  input: usagePathsOfAny('input'),
  output: usagePathsOfAny('output'),
  cached: usagePathsOfAny('cached'),
  reasoning: usagePathsOfAny('reasoning'),
};

/** A value as SQLite's SUM() takes what json_extract() gives: true is 1, text its leading number, JSON text 0. */
function asSqlNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const n = typeof v === 'string' ? parseFloat(v) : NaN;
  return Number.isFinite(n) ? n : 0;
}

/**
 * The tokens of a final object as the store's running totals count them: under `usage` when it is
 * an object, the first present path of any endpoint (the same rule as the SQL that recounts them
 * from stored results, sqlite/running-totals.ts). The engine has the object parsed already, so
 * the store adds these instead of reading the result back with json_extract.
 */
export function resultTokens(result: unknown): TokenUsage {
  const usage = typeof result === 'object' && result !== null ? (result as { usage?: unknown }).usage : undefined;
  if (typeof usage !== 'object' || usage === null || Array.isArray(usage)) return NO_TOKENS;
  const first = (field: keyof UsagePaths) => {
    for (const p of ANY_ENDPOINT[field]) {
      let v: unknown = usage;
      for (const key of p.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
      if (v !== undefined && v !== null) return asSqlNumber(v);
    }
    return 0;
  };
  return { input: first('input'), output: first('output'), cached: first('cached'), reasoning: first('reasoning') };
}
