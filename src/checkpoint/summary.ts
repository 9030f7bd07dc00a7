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
