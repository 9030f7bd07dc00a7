import type Database from 'better-sqlite3';
import { ENDPOINT_KINDS, type UsagePaths } from '../api/endpoints.ts';
import type { RequestCounts } from '../engine/events.ts';
import type { Checkpoint, StateCounts } from './checkpoint.ts';
import { JOB_STATES } from './job-states.ts';

/** Tokens summed over every stored result, whatever its endpoint's usage shape. */
export interface TokenUsage {
  input: number;
  output: number;
  /** Part of `input` served from the prompt cache. */
  cached: number;
  /** Part of `output` spent on reasoning. */
  reasoning: number;
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
  /** Jobs still pending or submitted: the output would mark them `not_finished`. */
  unfinished: number;
  tokens: TokenUsage;
  /** Requests sent over every run of this batch (the `counters` table). */
  requests: RequestCounts;
  polls: PollStats;
  createdAtMs: number | null;
  lastFinishedAtMs: number | null;
}

/*
 * Usage lives in the stored final response object, under field names that differ per endpoint
 * (the endpoints table lists them); the tests check these sums against a JS reading of every
 * result. `$.usage` is extracted once per row in the inner query so the (possibly large) result
 * text is parsed once, and the outer paths read only the small usage object. json_valid keeps
 * one malformed row from failing the whole summary.
 */
function usageSum(field: keyof UsagePaths): string {
  const paths = [...new Set(Object.values(ENDPOINT_KINDS).flatMap((k) => k.usage[field]))];
  return `COALESCE(SUM(COALESCE(${paths.map((p) => `json_extract(u, '$.${p}')`).join(', ')}, 0)), 0) AS ${field}`;
}

const TOKENS_SQL = `
  SELECT ${(['input', 'output', 'cached', 'reasoning'] as const).map(usageSum).join(',\n    ')}
  FROM (
    SELECT json_extract(result, '$.usage') AS u FROM jobs WHERE result IS NOT NULL AND json_valid(result)
  )
  WHERE u IS NOT NULL`;

const POLLS_SQL = `
  SELECT
    COALESCE(SUM(poll_count), 0) AS total,
    COALESCE(MAX(poll_count), 0) AS max,
    COUNT(submitted_at_ms) AS background,
    MAX(finished_at_ms) AS lastFinishedAtMs
  FROM jobs`;

interface Statements {
  tokens: Database.Statement;
  polls: Database.Statement;
}

// Prepared once per connection, like the checkpoint's own statements: a library user may poll
// summarize() on an open checkpoint in a loop.
const prepared = new WeakMap<Database.Database, Statements>();

function statementsFor(db: Database.Database): Statements {
  let s = prepared.get(db);
  if (!s) {
    s = { tokens: db.prepare(TOKENS_SQL), polls: db.prepare(POLLS_SQL) };
    prepared.set(db, s);
  }
  return s;
}

/**
 * Sums a checkpoint up: counts per state, tokens, requests and polls. Reads only, in one
 * transaction so that every figure comes from the same snapshot even while a run writes (WAL
 * readers do not block the writer).
 */
export function summarize(cp: Checkpoint): CheckpointSummary {
  const s = statementsFor(cp.db);
  return cp.db.transaction(() => {
    const counts = cp.counts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const tokens = s.tokens.get() as TokenUsage;
    const polls = s.polls.get() as { total: number; max: number; background: number; lastFinishedAtMs: number | null };
    const counters = cp.counters();
    return {
      total,
      counts,
      unfinished: counts[JOB_STATES.pending] + counts[JOB_STATES.submitted],
      tokens: { input: tokens.input, output: tokens.output, cached: tokens.cached, reasoning: tokens.reasoning },
      requests: { posts: counters['posts'] ?? 0, gets: counters['gets'] ?? 0, retries: counters['retries'] ?? 0 },
      polls: {
        total: polls.total,
        meanPerJob: polls.background === 0 ? 0 : polls.total / polls.background,
        maxPerJob: polls.max,
      },
      createdAtMs: cp.batch()?.createdAtMs ?? null,
      lastFinishedAtMs: polls.lastFinishedAtMs,
    };
  })();
}
