import { ENDPOINT_KINDS, type Endpoint, type UsagePaths } from '../api/endpoints.ts';
import type { TokenUsage } from '../checkpoint/summary.ts';

function at(usage: Record<string, unknown>, path: string): number | undefined {
  let v: unknown = usage;
  for (const key of path.split('.')) v = (v as Record<string, unknown> | null | undefined)?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The usage a stored result reports, read where its endpoint keeps it (the endpoints table); zeros when it has none. */
export function usageOf(url: Endpoint, result: string): TokenUsage {
  let usage: unknown;
  try {
    usage = (JSON.parse(result) as { usage?: unknown } | null)?.usage;
  } catch {
    usage = undefined;
  }
  const u = typeof usage === 'object' && usage !== null ? (usage as Record<string, unknown>) : {};
  const paths = ENDPOINT_KINDS[url].usage;
  const sum = (field: keyof UsagePaths) => {
    for (const p of paths[field]) {
      const v = at(u, p);
      if (v !== undefined) return v;
    }
    return 0;
  };
  return { input: sum('input'), output: sum('output'), cached: sum('cached'), reasoning: sum('reasoning') };
}
