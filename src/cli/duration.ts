import { UsageError } from '../errors.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "250ms", "2s", "1.5m", "1h"; a bare number is seconds. */
export function parseDuration(flag: string, value: string | number): number {
  const text = String(value).trim();
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) throw new UsageError(`--${flag} must be a duration such as 500ms, 2s, 5m or 1h (got "${text}")`);
  const ms = Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
  if (ms < 1) throw new UsageError(`--${flag} must be at least 1ms (got "${text}")`);
  return ms;
}

export function optionalDuration(flag: string, value: string | number | undefined): number | undefined {
  return value === undefined ? undefined : parseDuration(flag, value);
}
