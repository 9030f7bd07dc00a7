/** Numbers for people (progress lines, engine phase messages, the end-of-run summary, `status`): no layer of its own, so any layer may use it. */

/**
 * "1,234,567": en-US digit grouping done by hand. A process's first `toLocaleString` loads ICU's
 * number-format data, 12–20 ms of CPU: more than `sailbatch status` spends reading the checkpoint.
 */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+$)/g, ',');
}

/** "850ms", "42s", "3m07s", "2h05m", "3d04h". */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3_600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h${pad(Math.floor((s % 3_600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3_600))}h`;
}

/** Per second when there is at least one a second, else per minute or per hour (a 24h window is slow). */
export function formatRate(perSecond: number): string {
  const fixed = (n: number) => n.toFixed(n >= 10 ? 0 : 1);
  if (perSecond >= 1) return `${fixed(perSecond)}/s`;
  if (perSecond * 60 >= 1) return `${fixed(perSecond * 60)}/min`;
  return `${fixed(perSecond * 3_600)}/h`;
}

/** "950 completed, 12 failed": the states that have jobs, in the order of the counts. */
export function formatStateCounts(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${formatCount(n)} ${state}`)
    .join(', ');
}

export function formatTokens(t: { input: number; cached: number; output: number; reasoning: number }): string {
  return `${formatCount(t.input)} input (${formatCount(t.cached)} cached), ${formatCount(t.output)} output (${formatCount(t.reasoning)} reasoning)`;
}

/** "1 job", "3 jobs"; "1 retry", "2 retries". */
export function plural(n: number, word: string): string {
  if (Math.round(n) === 1) return word;
  return word.endsWith('y') ? `${word.slice(0, -1)}ies` : `${word}s`;
}

/** "1 job", "3,000 jobs": a count and its noun, in the one number format. */
export function countOf(n: number, word: string): string {
  return `${formatCount(n)} ${plural(n, word)}`;
}

export function formatRequests(r: { posts: number; gets: number; retries: number }): string {
  return `${formatCount(r.posts)} POST, ${formatCount(r.gets)} GET, ${formatCount(r.retries)} ${plural(r.retries, 'retry')}`;
}
