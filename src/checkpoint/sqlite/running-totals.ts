import type Database from 'better-sqlite3';
import { JOB_STATES, type JobState } from '../job-states.ts';
import type { StateCounts } from '../store.ts';
import { NO_TOKENS, TOKEN_FIELDS, type SummaryFigures, type TokenUsage } from '../summary.ts';
import { usageSumsSql } from './usage-sums.ts';

/** What one transaction changed in the figures `status` reads; written once, at its end. */
export class TotalsDelta {
  readonly counts = new Map<JobState, number>();
  polls = 0;
  maxPolls = 0;
  background = 0;
  lastFinishedAtMs: number | null = null;
  /** Tokens of the results stored, as the engine read them from the objects it parsed. */
  readonly tokensAdded: TokenUsage = { ...NO_TOKENS };
  /** Jobs whose result is about to be cleared (its tokens are taken off). */
  readonly usageRemoved: number[] = [];

  add(state: JobState, n: number): void {
    this.counts.set(state, (this.counts.get(state) ?? 0) + n);
  }

  move(from: JobState, to: JobState): void {
    this.add(from, -1);
    this.add(to, 1);
  }

  addTokens(t: TokenUsage): void {
    for (const f of TOKEN_FIELDS) this.tokensAdded[f] += t[f];
  }

  polled(pollCount: number): void {
    this.maxPolls = Math.max(this.maxPolls, pollCount);
  }
}

/**
 * `job_counts` and `job_totals` (migration v4): the figures `status` and the summary read in
 * constant time. The job store is their only writer: every statement that inserts jobs or
 * changes a counted column records its change in a TotalsDelta, written here in the same
 * transaction, once per page rather than once per row (a trigger per row cost the hot path
 * about 10 µs per update).
 */
export class SqliteRunningTotals {
  private readonly readCounts: Database.Statement;
  private readonly readTotals: Database.Statement;
  private readonly accepted: Database.Statement;
  private readonly addCount: Database.Statement;
  private readonly addTotals: Database.Statement;
  private readonly usage: Database.Statement;

  constructor(db: Database.Database) {
    this.readCounts = db.prepare('SELECT state, n FROM job_counts');
    this.readTotals = db.prepare(
      `SELECT input_tokens AS input, output_tokens AS output, cached_tokens AS cached, reasoning_tokens AS reasoning,
         polls AS total, max_polls AS max, background, last_finished_at_ms AS lastFinishedAtMs
       FROM job_totals WHERE id = 1`,
    );
    this.accepted = db.prepare(
      `SELECT 1 FROM job_counts WHERE state NOT IN ('${JOB_STATES.pending}', '${JOB_STATES.not_sent_budget}', '${JOB_STATES.invalid}') AND n > 0`,
    );
    this.addCount = db.prepare('INSERT INTO job_counts (state, n) VALUES (?, ?) ON CONFLICT (state) DO UPDATE SET n = n + excluded.n');
    this.addTotals = db.prepare(
      `UPDATE job_totals SET
         input_tokens = input_tokens + @input, output_tokens = output_tokens + @output,
         cached_tokens = cached_tokens + @cached, reasoning_tokens = reasoning_tokens + @reasoning,
         polls = polls + @polls, max_polls = MAX(max_polls, @maxPolls), background = background + @background,
         last_finished_at_ms = COALESCE(MAX(last_finished_at_ms, @lastFinishedAtMs), @lastFinishedAtMs, last_finished_at_ms)
       WHERE id = 1`,
    );
    // Tokens of the stored results of the jobs in a JSON array of idx (results about to be cleared).
    this.usage = db.prepare(usageSumsSql('idx IN (SELECT value FROM json_each(?))'));
  }

  private tokensOfJobs(idxs: readonly number[]): TokenUsage {
    return this.usage.get(JSON.stringify(idxs)) as TokenUsage;
  }

  /** Takes off the tokens of results about to be cleared: call before the statement that clears them. */
  removeUsage(delta: TotalsDelta): TokenUsage {
    return delta.usageRemoved.length === 0 ? { ...NO_TOKENS } : this.tokensOfJobs(delta.usageRemoved);
  }

  /** Writes `delta`; `removed` is what removeUsage returned before the rows changed. */
  write(delta: TotalsDelta, removed: TokenUsage = NO_TOKENS): void {
    for (const [state, n] of delta.counts) if (n !== 0) this.addCount.run(state, n);
    const added = delta.tokensAdded;
    const tokens = Object.fromEntries(TOKEN_FIELDS.map((f) => [f, added[f] - removed[f]])) as unknown as TokenUsage;
    if (delta.polls === 0 && delta.background === 0 && delta.lastFinishedAtMs === null && delta.maxPolls === 0 && TOKEN_FIELDS.every((f) => tokens[f] === 0)) {
      return;
    }
    this.addTotals.run({ ...tokens, polls: delta.polls, maxPolls: delta.maxPolls, background: delta.background, lastFinishedAtMs: delta.lastFinishedAtMs });
  }

  counts(): StateCounts {
    const out = Object.fromEntries(Object.values(JOB_STATES).map((s) => [s, 0])) as StateCounts;
    for (const r of this.readCounts.all() as { state: JobState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  anyAccepted(): boolean {
    return this.accepted.get() !== undefined;
  }

  figures(): Pick<SummaryFigures, 'tokens' | 'polls'> {
    const r = this.readTotals.get() as Record<string, number | null>;
    return {
      tokens: { input: r['input']!, output: r['output']!, cached: r['cached']!, reasoning: r['reasoning']! },
      polls: { total: r['total']!, max: r['max']!, background: r['background']!, lastFinishedAtMs: r['lastFinishedAtMs'] ?? null },
    };
  }
}
