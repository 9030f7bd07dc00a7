import { describeCost } from '../cost/cost.ts';
import { batchStatus, type BatchStatus } from '../checkpoint/batch-status.ts';
import { EXIT, UsageError } from '../errors.ts';
import { formatCount, formatDuration, formatRequests, formatStateCounts, formatTokens } from '../human-format.ts';
import type { CliIo } from './io.ts';
import type { StatusArgs } from './status-command.ts';

function runnerLine(s: BatchStatus): string {
  const r = s.runner;
  if (!r) return 'no run is going';
  const who = `pid ${r.pid} on ${r.host}`;
  return r.live
    ? `running: ${who}, heartbeat ${formatDuration(r.heartbeatAgeMs)} ago${r.throttledTo === null ? '' : `; throttled by 429s: limit ${r.throttledTo}`}`
    : `no run is going (${who} stopped its heartbeat ${formatDuration(r.heartbeatAgeMs)} ago without finishing: it died or was killed)`;
}

function jobsLine(s: BatchStatus): string {
  const finished = s.total - s.unfinished;
  const pct = s.total === 0 ? 100 : Math.floor((finished * 100) / s.total);
  return `${formatCount(s.total)}: ${formatStateCounts(s.counts) || 'none'}; ${formatCount(finished)} finished (${pct}%)`;
}

/** The status as a person reads it: aligned labels, then the oldest running jobs and the errors. */
export function describeStatus(s: BatchStatus): string {
  const rows: [string, string][] = [
    ['checkpoint', s.db],
    ['input', s.loaded ? (s.input ?? '?') : `${s.input ?? '?'} (still being validated)`],
    ['runner', runnerLine(s)],
    ['jobs', jobsLine(s)],
    ['tokens', formatTokens(s.tokens)],
    ...(s.cost ? [['cost', describeCost(s.cost)] as [string, string]] : []),
    ['requests', `${formatRequests(s.requests)} (every run of this batch)`],
    ['polls', `${s.polls.meanPerJob.toFixed(1)} per job on average, ${formatCount(s.polls.maxPerJob)} at most (${formatCount(s.polls.total)} in all)`],
  ];
  if (s.createdAtMs !== null) {
    const last = s.lastFinishedAtMs === null ? '' : `; last job finished ${formatDuration(s.atMs - s.lastFinishedAtMs)} ago`;
    rows.push(['elapsed', `${formatDuration(s.atMs - s.createdAtMs)} since the batch was created${last}`]);
  }
  const out = rows.map(([k, v]) => `${k.padEnd(11)} ${v}`);
  if (s.oldestRunning.length > 0) {
    out.push('', `oldest running jobs (${s.oldestRunning.length} of ${formatCount(s.counts.submitted)}):`);
    for (const j of s.oldestRunning) {
      out.push(`  line ${String(j.line).padEnd(8)} ${String(j.customId).padEnd(20)} ${String(j.responseId).padEnd(28)} ${formatDuration(j.ageMs).padStart(7)}  ${j.apiStatus ?? '?'}, ${j.polls} polls`);
    }
  }
  const errored = s.total - s.unfinished - s.counts.completed;
  if (s.errors.length > 0) {
    out.push('', `errors (first ${s.errors.length} of ${formatCount(errored)}):`);
    for (const e of s.errors) {
      out.push(`  line ${String(e.line).padEnd(8)} ${String(e.customId).padEnd(20)} ${e.state.padEnd(10)} ${e.code ?? ''}${e.message ? `: ${e.message}` : ''}`);
    }
  }
  if (s.unfinished > 0 && !s.runner?.live) {
    out.push('', `${formatCount(s.unfinished)} jobs are unfinished; rerun \`sailbatch run\` with the same arguments to finish them.`);
  }
  return `${out.join('\n')}\n`;
}

export async function executeStatus(args: StatusArgs, io: CliIo): Promise<number> {
  if (!Number.isInteger(args.limit) || args.limit < 0) throw new UsageError(`--limit must be a whole number >= 0 (got ${args.limit})`);
  // The price table's schema (zod) is loaded only when asked for: `status` starts fast without it.
  const prices = args.prices === undefined ? undefined : await (await import('../cost/prices.ts')).loadPriceTable(args.prices);
  const s = await batchStatus(args.db, { running: args.limit, errors: args.limit, prices, batch: args.batch });
  if (args.json) io.result = s;
  else io.stdout.write(describeStatus(s));
  return EXIT.ok;
}
