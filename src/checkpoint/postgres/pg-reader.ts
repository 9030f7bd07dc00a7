import type pg from 'pg';
import { retryable } from './pg-connection.ts';
import { JOB_STATES, TERMINAL_STATES, UNFINISHED_STATES, type JobState } from '../job-states.ts';
import { ENDPOINT_KINDS, usagePathsOfAny } from '../../api/endpoints.ts';
import type { BatchMeta, JobRequest, JobRow, LeaseInfo, ModelUsage, ResultRow, StateCounts, StoreReader, WorkToSend } from '../store.ts';
import { TOKEN_FIELDS, modelFiguresOf, tokensOf, type CheckpointSummary, type ModelFigures, type TokenUsage } from '../summary.ts';

const S = JOB_STATES;

/** Anything that runs a query: the pool, or the one client of a transaction or snapshot. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** Every column of a job, named as JobRow names it. */
export const JOB_COLUMNS = `idx, line_no AS "lineNo", custom_id AS "customId", url, body, body_sha256 AS "bodySha256",
  completion_window AS "completionWindow", state, attempt, idempotency_key AS "idempotencyKey",
  response_id AS "responseId", api_status AS "apiStatus", status_code AS "statusCode", request_id AS "requestId",
  result, error_code AS "errorCode", error_message AS "errorMessage", parsed, source_row AS "sourceRow", model, sample,
  submitted_at_ms AS "submittedAtMs",
  next_poll_at_ms AS "nextPollAtMs", poll_count AS "pollCount", finished_at_ms AS "finishedAtMs", updated_at_ms AS "updatedAtMs"`;

const RESULT_COLUMNS = `idx, line_no AS "lineNo", custom_id AS "customId", state, idempotency_key AS "idempotencyKey",
  status_code AS "statusCode", request_id AS "requestId", result, error_code AS "errorCode", error_message AS "errorMessage",
  parsed, source_row AS "sourceRow", model, sample`;

const REQUEST_COLUMNS = 'idx, state, url, body, completion_window AS "completionWindow"';

const BATCH_COLUMNS = `input_path AS "inputPath", input_bytes AS "inputBytes", input_sha256 AS "inputSha256", namespace,
  key_salt AS "keySalt", key_fingerprint AS "keyFingerprint", base_url AS "baseUrl", options_json AS "optionsJson",
  created_at_ms AS "createdAtMs", loaded_at_ms AS "loadedAtMs"`;

const UNSUCCESSFUL = TERMINAL_STATES.filter((s) => s !== S.completed);

/**
 * The four token sums of the usage stored results report, over the batch's jobs that `where`
 * selects, grouped by `groupBy` (output name → SQL expression over a job): the same query shape
 * as SQLite's (sqlite/usage-sums.ts), with the endpoints table's paths, the first present wins.
 * ::numeric accepts whatever number the server wrote.
 */
function usageSumsSql(where: string, groupBy: Readonly<Record<string, string>> = {}): string {
  const keys = Object.entries(groupBy);
  const sum = (f: (typeof TOKEN_FIELDS)[number]) => {
    const paths = usagePathsOfAny(f).map((p) => `(u #>> '{${p.split('.').join(',')}}')::numeric`);
    return `COALESCE(SUM(COALESCE(${paths.join(', ')}, 0)), 0)::float8 AS ${f}`;
  };
  return `
    SELECT ${[...keys.map(([name], i) => `k${i} AS "${name}"`), ...TOKEN_FIELDS.map(sum)].join(', ')}
    FROM (
      SELECT ${[...keys.map(([, expr], i) => `${expr} AS k${i}`), `result::jsonb->'usage' AS u`].join(', ')}
      FROM jobs WHERE batch_id = $1 AND result IS NOT NULL AND (${where})
    ) r
    WHERE jsonb_typeof(u) = 'object'
    ${keys.length > 0 ? `GROUP BY ${keys.map((_, i) => `k${i}`).join(', ')}` : ''}`;
}

const TOKENS_SQL = usageSumsSql('true');
/** The fan-out model (the `model` column), not the one the request names: --models sets both alike. */
const MODEL_TOKENS_SQL = usageSumsSql('model IS NOT NULL', { model: 'model' });
/* Spending: usage per model as sent and window; what is still to send, with how many lack a cap. */
const USAGE_BY_MODEL_SQL = usageSumsSql('true', { model: "body::jsonb->>'model'", completionWindow: 'completion_window' });

const CAP_MISSING = `CASE url ${Object.values(ENDPOINT_KINDS)
  .map((k) => `WHEN '${k.url}' THEN jsonb_typeof(body::jsonb->'${k.maxTokensField}') IS DISTINCT FROM 'number'`)
  .join(' ')} ELSE true END`;

const WORK_TO_SEND_SQL = `
  SELECT url, body::jsonb->>'model' AS model, completion_window AS "completionWindow",
    COUNT(*)::int AS jobs, SUM((${CAP_MISSING})::int)::int AS uncapped
  FROM jobs WHERE batch_id = $1 AND state = ANY($2)
  GROUP BY 1, 2, 3`;

const POLLS_SQL = `
  SELECT COALESCE(SUM(poll_count), 0) AS total, COALESCE(MAX(poll_count), 0) AS max,
    COUNT(submitted_at_ms) AS background, MAX(finished_at_ms) AS "lastFinishedAtMs"
  FROM jobs WHERE batch_id = $1`;

export function emptyCounts(): StateCounts {
  return Object.fromEntries(Object.values(S).map((s) => [s, 0])) as StateCounts;
}

/** The read side of one batch in a PostgreSQL database, over any Queryable. */
export class PgReader implements StoreReader {
  constructor(
    protected readonly q: Queryable,
    readonly location: string,
    protected batchId: number | undefined,
  ) {}

  /** The batch this store works on, once one is chosen or created. */
  get id(): number | undefined {
    return this.batchId;
  }

  /** One statement; again once if its connection was lost (a pooled one the server ended while this process was paused). */
  protected async rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    try {
      return (await this.q.query(sql, params)).rows as T[];
    } catch (e) {
      if (!retryable(e)) throw e;
      return (await this.q.query(sql, params)).rows as T[];
    }
  }

  async batch(): Promise<BatchMeta | undefined> {
    if (this.batchId === undefined) return undefined;
    return (await this.rows<BatchMeta>(`SELECT ${BATCH_COLUMNS} FROM batches WHERE id = $1`, [this.batchId]))[0];
  }

  async job(idx: number): Promise<JobRow | undefined> {
    return (await this.rows<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE batch_id = $1 AND idx = $2`, [this.batchId, idx]))[0];
  }

  async lineOfCustomId(customId: string): Promise<number | undefined> {
    const r = await this.rows<{ lineNo: number }>('SELECT line_no AS "lineNo" FROM jobs WHERE batch_id = $1 AND custom_id = $2', [this.batchId, customId]);
    return r[0]?.lineNo;
  }

  jobsPage(afterIdx: number, limit: number): Promise<JobRow[]> {
    return this.rows<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE batch_id = $1 AND idx > $2 ORDER BY idx LIMIT $3`, [this.batchId, afterIdx, limit]);
  }

  resultsPage(afterIdx: number, limit: number): Promise<ResultRow[]> {
    return this.rows<ResultRow>(`SELECT ${RESULT_COLUMNS} FROM jobs WHERE batch_id = $1 AND idx > $2 ORDER BY idx LIMIT $3`, [this.batchId, afterIdx, limit]);
  }

  requestsPage(afterIdx: number, limit: number): Promise<JobRequest[]> {
    return this.rows<JobRequest>(`SELECT ${REQUEST_COLUMNS} FROM jobs WHERE batch_id = $1 AND idx > $2 ORDER BY idx LIMIT $3`, [this.batchId, afterIdx, limit]);
  }

  async counts(): Promise<StateCounts> {
    const out = emptyCounts();
    for (const r of await this.rows<{ state: JobState; n: number }>('SELECT state, n FROM job_counts WHERE batch_id = $1', [this.batchId])) {
      out[r.state] = r.n;
    }
    return out;
  }

  async total(): Promise<number> {
    return Object.values(await this.counts()).reduce((a, b) => a + b, 0);
  }

  async counters(): Promise<Record<string, number>> {
    const r = await this.rows<{ name: string; value: number }>('SELECT name, value FROM counters WHERE batch_id = $1', [this.batchId]);
    return Object.fromEntries(r.map((c) => [c.name, c.value]));
  }

  async perModel(): Promise<Record<string, ModelFigures>> {
    const counts = await this.rows<{ model: string; state: JobState; n: number }>(
      'SELECT model, state, COUNT(*)::int AS n FROM jobs WHERE batch_id = $1 AND model IS NOT NULL GROUP BY model, state',
      [this.batchId],
    );
    return modelFiguresOf(counts, await this.rows<TokenUsage & { model: string }>(MODEL_TOKENS_SQL, [this.batchId]));
  }

  async summary(): Promise<CheckpointSummary> {
    const counts = await this.counts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const [tokens] = await this.rows<CheckpointSummary['tokens']>(TOKENS_SQL, [this.batchId]);
    const [polls] = await this.rows<{ total: number; max: number; background: number; lastFinishedAtMs: number | null }>(POLLS_SQL, [this.batchId]);
    const counters = await this.counters();
    return {
      total,
      counts,
      unfinished: UNFINISHED_STATES.reduce((n, st) => n + counts[st], 0),
      tokens: tokens!,
      requests: { posts: counters['posts'] ?? 0, gets: counters['gets'] ?? 0, retries: counters['retries'] ?? 0 },
      polls: { total: polls!.total, meanPerJob: polls!.background === 0 ? 0 : polls!.total / polls!.background, maxPerJob: polls!.max },
      createdAtMs: (await this.batch())?.createdAtMs ?? null,
      lastFinishedAtMs: polls!.lastFinishedAtMs,
    };
  }

  async usageByModel(): Promise<ModelUsage[]> {
    const rows = await this.rows<TokenUsage & { model: string | null; completionWindow: string | null }>(USAGE_BY_MODEL_SQL, [this.batchId]);
    return rows.map((r) => ({
      model: String(r.model),
      completionWindow: r.completionWindow,
      tokens: tokensOf(r),
    }));
  }

  async workToSend(): Promise<WorkToSend[]> {
    const rows = await this.rows<WorkToSend>(WORK_TO_SEND_SQL, [this.batchId, [S.pending, S.not_sent_budget]]);
    return rows.map((r) => ({ ...r, model: String(r.model) }));
  }

  oldestSubmitted(limit: number): Promise<JobRow[]> {
    return this.rows<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE batch_id = $1 AND state = $2 ORDER BY submitted_at_ms LIMIT $3`,
      [this.batchId, S.submitted, limit],
    );
  }

  firstUnsuccessful(limit: number): Promise<JobRow[]> {
    return this.rows<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE batch_id = $1 AND state = ANY($2) ORDER BY idx LIMIT $3`,
      [this.batchId, UNSUCCESSFUL, limit],
    );
  }

  /** While the batch is loading, the worker loading it; then the one that beat last. */
  async lease(): Promise<LeaseInfo | undefined> {
    const r = await this.rows<LeaseInfo>(
      `SELECT w.owner, w.pid, w.host, w.heartbeat_ms AS "heartbeatMs" FROM workers w JOIN batches b ON b.id = w.batch_id
       WHERE w.batch_id = $1 ORDER BY (b.loaded_at_ms IS NULL AND w.owner = b.loader) DESC, w.heartbeat_ms DESC LIMIT 1`,
      [this.batchId],
    );
    return r[0];
  }

  /** The workers that joined this batch, most recent heartbeat first. */
  workers(): Promise<LeaseInfo[]> {
    return this.rows<LeaseInfo>(
      'SELECT owner, pid, host, heartbeat_ms AS "heartbeatMs" FROM workers WHERE batch_id = $1 ORDER BY heartbeat_ms DESC',
      [this.batchId],
    );
  }
}
