/**
 * What the baseline clients make of one input line: the body to POST. Both line shapes of the
 * workload (OpenAI Batch lines and bare Responses bodies) are read the way a user's script would,
 * without validation.
 */
export function requestOf(line: string): { customId: string; body: Record<string, unknown> } {
  const l = JSON.parse(line) as Record<string, unknown>;
  const { custom_id, method: _m, url: _u, body, ...bare } = l;
  return { customId: String(custom_id), body: { ...((body as Record<string, unknown> | undefined) ?? bare), background: true } };
}

export const TERMINAL = new Set(['completed', 'failed', 'incomplete', 'cancelled', 'expired']);

/** The one line each baseline client prints when it ends, read by bench/compare.ts. */
export function report(counts: { posts: number; gets: number; completed: number }): void {
  const cpu = process.cpuUsage();
  console.log(JSON.stringify({ ...counts, cpuMs: (cpu.user + cpu.system) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
}
