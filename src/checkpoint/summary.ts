import type { RequestCounts } from '../engine/events.ts';
import type { StateCounts } from './store.ts';
import { UNFINISHED_STATES } from './job-states.ts';

/** Tokens summed over every stored result, whatever its endpoint's usage shape. */
export interface TokenUsage {
  input: number;
  output: number;
  /** Part of `input` served from the prompt cache. */
  cached: number;
  /** Part of `output` spent on reasoning. */
  reasoning: number;
}

/** The fields of TokenUsage, in the order the stores sum them. */
export const TOKEN_FIELDS = ['input', 'output', 'cached', 'reasoning'] as const satisfies readonly (keyof TokenUsage)[];

export const NO_TOKENS: Readonly<TokenUsage> = { input: 0, output: 0, cached: 0, reasoning: 0 };

/** The token sums of a store's query row, without the row's other columns. */
export function tokensOf(row: TokenUsage): TokenUsage {
  return { input: row.input, output: row.output, cached: row.cached, reasoning: row.reasoning };
}

export interface PollStats {
  /** GETs recorded against jobs, over every run. */
  total: number;
  /** Mean over the jobs that went to the background (synchronous endpoints are never polled). */
  meanPerJob: number;
  maxPerJob: number;
}

/** A checkpoint's figures: what the end-of-run summary, `status` and the library report. */
export interface CheckpointSummary {
  total: number;
  counts: StateCounts;
  /** Jobs not finished (pending, submitted, not_sent_budget): a rerun goes on with them. */
  unfinished: number;
  tokens: TokenUsage;
  /** Requests sent over every run of this batch (the `counters` table). */
  requests: RequestCounts;
  polls: PollStats;
  createdAtMs: number | null;
  lastFinishedAtMs: number | null;
}

/** The raw figures a store reads; `toSummary` turns them into a CheckpointSummary the same way for every store. */
export interface SummaryFigures {
  counts: StateCounts;
  tokens: TokenUsage;
  counters: Readonly<Record<string, number>>;
  /** Sum and max of polls per job, how many jobs went to the background, the last finish. */
  polls: { total: number; max: number; background: number; lastFinishedAtMs: number | null };
  createdAtMs: number | null;
}

export function toSummary(f: SummaryFigures): CheckpointSummary {
  const { counts, tokens, counters, polls } = f;
  return {
    total: Object.values(counts).reduce((a, b) => a + b, 0),
    counts,
    unfinished: UNFINISHED_STATES.reduce((n, st) => n + counts[st], 0),
    tokens: { input: tokens.input, output: tokens.output, cached: tokens.cached, reasoning: tokens.reasoning },
    requests: { posts: counters['posts'] ?? 0, gets: counters['gets'] ?? 0, retries: counters['retries'] ?? 0 },
    polls: {
      total: polls.total,
      meanPerJob: polls.background === 0 ? 0 : polls.total / polls.background,
      maxPerJob: polls.max,
    },
    createdAtMs: f.createdAtMs,
    lastFinishedAtMs: polls.lastFinishedAtMs,
  };
}

/** One model's share of a batch (eval fan-out): its jobs per state and its tokens. */
export interface ModelFigures {
  jobs: number;
  counts: Partial<StateCounts>;
  tokens: TokenUsage;
}

/** Per-model figures from a store's two reads: jobs per model and state, and token sums per model. */
export function modelFiguresOf(
  counts: readonly { model: string; state: keyof StateCounts; n: number }[],
  tokens: readonly (TokenUsage & { model: string })[],
): Record<string, ModelFigures> {
  const out: Record<string, ModelFigures> = {};
  const of = (model: string) => (out[model] ??= { jobs: 0, counts: {}, tokens: { ...NO_TOKENS } });
  for (const r of counts) {
    const m = of(r.model);
    m.jobs += r.n;
    m.counts[r.state] = r.n;
  }
  for (const r of tokens) of(r.model).tokens = tokensOf(r);
  return out;
}
