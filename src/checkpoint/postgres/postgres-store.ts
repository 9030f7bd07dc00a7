import { hostname } from 'node:os';
import type pg from 'pg';
import { idempotencyKey, storedBodySha256 } from '../../api/idempotency-key.ts';
import { CheckpointError, StateTransitionError } from '../../errors.ts';
import { runOptionsSchema } from '../../options.ts';
import { JOB_STATES, RETRYABLE_STATES, UNFINISHED_STATES, sourcesOf, type JobState } from '../job-states.ts';
import { OUTPUT_RETRY_COUNTERS, isScheduleUpdate, type BatchMeta, type BatchStore, type JobToPoll, type JobToSend, type JobUpdate, type LostClaims, type NewJob, type OpenStoreOptions, type RetryKeyInput, type SharedBudget, type StoreReader } from '../store.ts';
import { recordedLeaseStaleMs } from '../recorded-options.ts';
import { PgSharedBudget } from './pg-budget.ts';
import { connectionError, inTransaction, openPool, redactUrl } from './pg-connection.ts';
import { assertPgSchemaReadable, migratePg } from './pg-migrations.ts';
import { PgReader, type Queryable } from './pg-reader.ts';

const S = JOB_STATES;
/** For a batch whose recorded options lack them: the run's own defaults. */
const DEFAULT_BUDGET = {
  concurrency: runOptionsSchema.shape.concurrency.parse(undefined),
  maxRps: runOptionsSchema.shape.maxRequestsPerSecond.parse(undefined),
};

/** Counters that record what the batch's API key may have bought (see mayChangeKey). */
const KEY_COUNTERS = { sendingRuns: 'sending_runs', keyRejected: 'key_rejected' } as const;

/**
 * How this machine names itself in `workers` (what `status` and `batches` show): SAILBATCH_HOST
 * when set (containers whose hostnames say nothing, or tests that play several machines), else
 * the hostname. A worker never judges another by its host: on any host, claims end by expiry.
 */
function hostIdentity(): string {
  return process.env['SAILBATCH_HOST'] || hostname();
}

type BatchSelector = NonNullable<OpenStoreOptions['batch']>;

/** One line of `sailbatch batches`. */
export interface BatchListing {
  id: number;
  inputPath: string;
  namespace: string;
  createdAtMs: number;
  loadedAtMs: number | null;
  total: number;
  unfinished: number;
  liveWorkers: number;
}

const WORK_COLUMNS = `idx, line_no AS "lineNo", custom_id AS "customId", url, completion_window AS "completionWindow", state, attempt`;
const SEND_COLUMNS = `${WORK_COLUMNS}, body, idempotency_key AS "idempotencyKey"`;
// The body too: a polled answer is checked against the schema its request asked for.
const POLL_COLUMNS = `${WORK_COLUMNS}, body, response_id AS "responseId", api_status AS "apiStatus",
  submitted_at_ms AS "submittedAtMs", poll_count AS "pollCount"`;

/**
 * Claims a page: the first `$3` rows of a partial index range that nobody holds (or whose
 * holder let the claim expire), locked with SKIP LOCKED so that workers claiming at the same
 * moment take different rows instead of queueing behind each other (graphile-worker's
 * get_job, pg-boss's fetch). The claim is an owner and an expiry, written on the row. `$6` are
 * the jobs the claiming worker holds already (see PostgresStore.held).
 */
function claimSql(where: string, order: string, columns: string): string {
  return `
    WITH page AS (
      SELECT idx FROM jobs
      WHERE batch_id = $1 AND ${where} AND (claim_owner IS NULL OR claim_expires_ms < $4) AND idx <> ALL ($6::int[])
      ORDER BY ${order} LIMIT $3
      FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs j SET claim_owner = $2, claim_expires_ms = $4 + $5
    FROM page WHERE j.batch_id = $1 AND j.idx = page.idx
    RETURNING ${columns.replace(/(^|,\s*)(\w+)/g, '$1j.$2')}`;
}

const CLAIM_PENDING = claimSql(`state = '${S.pending}'`, 'idx', SEND_COLUMNS);
// The poll time comes back too: RETURNING has no order, and a page of due polls goes soonest first.
const CLAIM_DUE = claimSql(`state = '${S.submitted}' AND next_poll_at_ms <= $7`, 'next_poll_at_ms', `${POLL_COLUMNS}, next_poll_at_ms AS "dueAtMs"`);

/**
 * Applies a page of updates in one statement. Each update carries the state it moves to and
 * the states it may leave (from TRANSITIONS); it lands only if the job is still at that attempt,
 * in one of those states, and claimed by this worker. An update that does not land is one whose
 * claim another worker took over (this one was paused or cut off past the expiry): it is
 * dropped, never written over the other's work. Landing ends the claim.
 */
const APPLY_SQL = `
  UPDATE jobs j SET
    state = u.to_state,
    response_id = COALESCE(u.response_id, j.response_id),
    api_status = CASE WHEN u.polled THEN u.api_status ELSE j.api_status END,
    request_id = COALESCE(u.request_id, j.request_id),
    status_code = CASE WHEN u.finished THEN u.status_code ELSE j.status_code END,
    result = CASE WHEN u.finished THEN u.result ELSE j.result END,
    error_code = CASE WHEN u.finished THEN u.error_code ELSE j.error_code END,
    error_message = CASE WHEN u.finished THEN u.error_message ELSE j.error_message END,
    parsed = CASE WHEN u.finished THEN u.parsed ELSE j.parsed END,
    submitted_at_ms = CASE WHEN u.to_state = '${S.submitted}' AND j.state <> '${S.submitted}' THEN $3 ELSE j.submitted_at_ms END,
    next_poll_at_ms = u.next_poll_at_ms,
    poll_count = j.poll_count + CASE WHEN j.state = '${S.submitted}' AND u.polled THEN 1 ELSE 0 END,
    finished_at_ms = CASE WHEN u.finished THEN $3 ELSE j.finished_at_ms END,
    updated_at_ms = $3,
    claim_owner = NULL,
    claim_expires_ms = NULL
  FROM unnest($4::int[], $5::int[], $6::text[], $7::text[], $8::bool[], $9::text[], $10::text[], $11::text[],
              $12::int[], $13::text[], $14::text[], $15::text[], $16::bigint[], $17::text[], $18::bool[])
    AS u(idx, attempt, to_state, from_states, finished, response_id, api_status, request_id,
         status_code, result, error_code, error_message, next_poll_at_ms, parsed, polled)
  WHERE j.batch_id = $1 AND j.idx = u.idx AND j.attempt = u.attempt AND j.claim_owner = $2
    AND j.state = ANY (string_to_array(u.from_states, ','))
  RETURNING j.idx`;

const BUMP = `INSERT INTO counters (batch_id, name, value) SELECT $1, * FROM unnest($2::text[], $3::bigint[])
  ON CONFLICT (batch_id, name) DO UPDATE SET value = counters.value + excluded.value`;
const SET_GAUGES = `INSERT INTO counters (batch_id, name, value) SELECT $1, * FROM unnest($2::text[], $3::bigint[])
  ON CONFLICT (batch_id, name) DO UPDATE SET value = excluded.value`;

function toState(u: JobUpdate): JobState {
  return u.kind === 'finished' ? u.state : S.submitted;
}

function fromStates(u: JobUpdate): string {
  return (isScheduleUpdate(u) ? [S.submitted] : sourcesOf(toState(u))).join(',');
}

/**
 * A batch in a PostgreSQL database, drained by any number of workers at once. Work is handed out
 * in claimed pages (claimPending, claimDuePolls); every write of a job is guarded by its claim;
 * a worker's heartbeat extends its claims and its row in `workers`, and a worker that stops
 * beating loses its claims at their expiry to whoever claims next.
 */
export class PostgresStore extends PgReader implements BatchStore {
  private owner: string | undefined;
  private claimTtlMs = 30_000;
  /**
   * The jobs this worker has claimed and not yet written or given back. Its claims outlive it
   * only by their expiry: when its heartbeat falls behind (a loaded machine), the claim query
   * would hand it jobs it is still working on; the query leaves them out, as SQLite's store
   * leaves out its own claims, so that no job is sent or polled twice by the same worker.
   */
  private readonly held = new Set<number>();
  private sharedBudget: PgSharedBudget | undefined;
  /** A batch's namespace, read once a job loaded without its key needs it. */
  private namespaceOf: { batch: number; namespace: string } | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    location: string,
    batchId: number | undefined,
    readonly readonly: boolean,
  ) {
    super(pool, location, batchId);
  }

  static async open(url: string, options: OpenStoreOptions = {}): Promise<PostgresStore> {
    const location = redactUrl(url);
    const pool = openPool(url, 4);
    try {
      const client = await pool.connect();
      try {
        if (options.readonly) await assertPgSchemaReadable(client, location);
        else await migratePg(client, location);
      } finally {
        client.release();
      }
      const store = new PostgresStore(pool, location, undefined, options.readonly ?? false);
      if (options.batch) await store.select(options.batch);
      else if (options.readonly) await store.selectOnly();
      return store;
    } catch (e) {
      await pool.end().catch(() => {});
      if (e instanceof CheckpointError) throw e;
      throw connectionError(url, e);
    }
  }

  /**
   * Every batch in the database, oldest first, with its progress and its live workers: those whose
   * heartbeat is fresher than the lease staleness their batch recorded (`defaultStaleMs` where it
   * recorded none).
   */
  static async listBatches(url: string, defaultStaleMs: number): Promise<{ location: string; batches: BatchListing[] }> {
    const location = redactUrl(url);
    const pool = openPool(url, 1);
    try {
      const client = await pool.connect();
      try {
        await assertPgSchemaReadable(client, location);
      } finally {
        client.release();
      }
      return { location, batches: await new PostgresStore(pool, location, undefined, true).batchListing(defaultStaleMs) };
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw connectionError(url, e);
    } finally {
      await pool.end().catch(() => {});
    }
  }

  /** For status and export without --batch: the database's one batch, or a message naming the choices. */
  private async selectOnly(): Promise<void> {
    const ids = (await this.rows<{ id: number }>('SELECT id FROM batches ORDER BY id LIMIT 11')).map((r) => r.id);
    if (ids.length === 1) this.batchId = ids[0];
    else if (ids.length === 0) throw new CheckpointError(`${this.location}: no batches in this database yet; \`sailbatch run <input> --db <url>\` creates one`);
    else {
      throw new CheckpointError(
        `${this.location}: this database holds several batches (${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''}); ` +
          'pass --batch <id> (`sailbatch batches --db <url>` lists them)',
      );
    }
  }

  private async batchListing(defaultStaleMs: number): Promise<BatchListing[]> {
    const rows = await this.rows<Omit<BatchListing, 'liveWorkers'> & { optionsJson: string; heartbeats: number[] }>(
      `SELECT b.id, b.input_path AS "inputPath", b.namespace, b.created_at_ms AS "createdAtMs", b.loaded_at_ms AS "loadedAtMs",
         COALESCE((SELECT SUM(n) FROM job_counts c WHERE c.batch_id = b.id), 0)::float8 AS total,
         COALESCE((SELECT SUM(n) FROM job_counts c WHERE c.batch_id = b.id AND c.state = ANY($1)), 0)::float8 AS unfinished,
         b.options_json AS "optionsJson", ARRAY(SELECT w.heartbeat_ms FROM workers w WHERE w.batch_id = b.id)::float8[] AS heartbeats
       FROM batches b ORDER BY b.id`,
      [UNFINISHED_STATES],
    );
    const now = Date.now();
    // A batch run with a longer --lease-stale heartbeats less often: judged by the default, its live workers would blink out.
    return rows.map(({ optionsJson, heartbeats, ...b }) => {
      const staleMs = recordedLeaseStaleMs(optionsJson) ?? defaultStaleMs;
      return { ...b, liveWorkers: heartbeats.filter((h) => h >= now - staleMs).length };
    });
  }

  /** Chooses the batch to work on; throws a CheckpointError naming the choices when an id is unknown. */
  private async select(sel: BatchSelector): Promise<void> {
    const r =
      'id' in sel
        ? await this.rows<{ id: number }>('SELECT id FROM batches WHERE id = $1', [sel.id])
        : await this.rows<{ id: number }>('SELECT id FROM batches WHERE input_sha256 = $1 AND namespace = $2', [sel.inputSha256, sel.namespace]);
    if (r[0]) this.batchId = r[0].id;
    else if ('id' in sel) {
      throw new CheckpointError(`${this.location}: no batch ${sel.id} in this database; \`sailbatch batches --db <url>\` lists them`);
    }
  }

  get budget(): SharedBudget | undefined {
    if (this.batchId === undefined) return undefined;
    return (this.sharedBudget ??= new PgSharedBudget(this.pool, this.batchId, () => this.claimTtlMs));
  }

  private get batchOrThrow(): number {
    if (this.batchId === undefined) throw new CheckpointError(`${this.location}: no batch chosen`);
    return this.batchId;
  }

  /** Every write checks here first, so a read-only store refuses it with one message, as SQLite's does. */
  private writable(): void {
    if (this.readonly) throw new CheckpointError(`${this.location}: opened read-only`);
  }

  private get ownerOrThrow(): string {
    if (this.owner === undefined) throw new CheckpointError(`${this.location}: this process has not joined batch ${this.batchId} (acquireLease)`);
    return this.owner;
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    this.writable();
    return inTransaction(this.pool, this.claimTtlMs, fn);
  }

  /**
   * Creates the batch, or joins the one another `run` of the same input created a moment ago
   * (the insert's conflict on input and namespace). The fleet's budget is the creating run's
   * --concurrency and --max-rps.
   */
  async createBatch(meta: Omit<BatchMeta, 'loadedAtMs'>): Promise<boolean> {
    this.writable();
    const options = JSON.parse(meta.optionsJson) as { concurrency?: number; maxRequestsPerSecond?: number };
    const budget = { concurrency: options.concurrency ?? DEFAULT_BUDGET.concurrency, maxRps: options.maxRequestsPerSecond ?? DEFAULT_BUDGET.maxRps };
    const r = await this.rows<{ id: number }>(
      `INSERT INTO batches (input_path, input_bytes, input_sha256, namespace, key_salt, key_fingerprint, base_url, options_json,
         concurrency, max_rps, created_at_ms, loader)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (input_sha256, namespace) DO NOTHING RETURNING id`,
      [meta.inputPath, meta.inputBytes, meta.inputSha256, meta.namespace, meta.keySalt, meta.keyFingerprint, meta.baseUrl, meta.optionsJson,
        budget.concurrency, budget.maxRps, meta.createdAtMs, this.owner ?? null],
    );
    if (r[0]) this.batchId = r[0].id;
    else await this.select({ inputSha256: meta.inputSha256, namespace: meta.namespace });
    if (this.owner !== undefined) await this.beat(this.q, this.owner);
    return r[0] !== undefined;
  }

  async markLoaded(inputBytes: number, inputSha256: string): Promise<void> {
    this.writable();
    await this.q.query('UPDATE batches SET loaded_at_ms = $2, input_bytes = $3, input_sha256 = $4 WHERE id = $1', [
      this.batchOrThrow, Date.now(), inputBytes, inputSha256,
    ]);
  }

  private async namespace(): Promise<string> {
    const batch = this.batchOrThrow;
    if (this.namespaceOf?.batch !== batch) {
      const [r] = await this.rows<{ namespace: string }>('SELECT namespace FROM batches WHERE id = $1', [batch]);
      this.namespaceOf = { batch, namespace: r!.namespace };
    }
    return this.namespaceOf.namespace;
  }

  /**
   * Jobs loaded without their body's hash and key get them here, stored as SQLite's reads derive
   * them: the claim queries hand out a page of rows as they are, and several workers read them.
   */
  async insertJobs(given: readonly NewJob[]): Promise<NewJob[]> {
    this.writable();
    if (given.length === 0) return [];
    // A requeue derives the next key from the stored hash, so a job with a request is stored with both.
    const underived = (j: NewJob) => j.customId !== null && j.body !== null && (j.bodySha256 === null || j.idempotencyKey === null);
    const namespace = given.some(underived) ? await this.namespace() : '';
    const derived = (j: NewJob): NewJob => {
      const sha = j.bodySha256 ?? storedBodySha256(j.body!);
      return { ...j, bodySha256: sha, idempotencyKey: j.idempotencyKey ?? idempotencyKey({ namespace, customId: j.customId!, attempt: 0, bodySha256: sha }) };
    };
    const jobs = given.map((j) => (underived(j) ? derived(j) : j));
    const col = <K extends keyof NewJob>(k: K) => jobs.map((j) => j[k] ?? null);
    const r = await this.rows<{ idx: number }>(
      `INSERT INTO jobs (batch_id, idx, line_no, custom_id, url, body, body_sha256, completion_window, state, idempotency_key,
         error_code, error_message, source_row, model, sample, updated_at_ms)
       SELECT $1, u.*, $2 FROM unnest($3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
         $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::int[]) AS u
       ON CONFLICT (batch_id, custom_id) DO NOTHING RETURNING idx`,
      [this.batchOrThrow, Date.now(), col('idx'), col('lineNo'), col('customId'), col('url'), col('body'), col('bodySha256'),
        col('completionWindow'), col('state'), col('idempotencyKey'), col('errorCode'), col('errorMessage'),
        col('sourceRow'), col('model'), col('sample')],
    );
    if (r.length === jobs.length) return [];
    const inserted = new Set(r.map((x) => x.idx));
    return jobs.filter((j) => !inserted.has(j.idx));
  }

  async claimPending(limit: number): Promise<JobToSend[]> {
    this.writable();
    if (limit <= 0) return [];
    const rows = await this.rows<JobToSend>(CLAIM_PENDING, [this.batchOrThrow, this.ownerOrThrow, limit, Date.now(), this.claimTtlMs, [...this.held]]);
    return this.hold(rows).sort((a, b) => a.idx - b.idx);
  }

  async claimDuePolls(nowMs: number, limit: number): Promise<JobToPoll[]> {
    this.writable();
    if (limit <= 0) return [];
    const rows = await this.rows<JobToPoll & { dueAtMs: number }>(CLAIM_DUE, [this.batchOrThrow, this.ownerOrThrow, limit, Date.now(), this.claimTtlMs, [...this.held], nowMs]);
    return this.hold(rows).sort((a, b) => a.dueAtMs - b.dueAtMs || a.idx - b.idx).map(({ dueAtMs: _, ...job }) => job);
  }

  /** The rows of a claimed page: this worker holds them now. */
  private hold<T extends { idx: number }>(rows: T[]): T[] {
    for (const r of rows) this.held.add(r.idx);
    return rows;
  }

  async release(idxs: readonly number[]): Promise<void> {
    this.writable();
    if (idxs.length === 0) return;
    await this.q.query('UPDATE jobs SET claim_owner = NULL, claim_expires_ms = NULL WHERE batch_id = $1 AND claim_owner = $2 AND idx = ANY($3)', [
      this.batchOrThrow, this.ownerOrThrow, idxs,
    ]);
    for (const idx of idxs) this.held.delete(idx);
  }

  async nextPollAt(): Promise<number | null> {
    const r = await this.rows<{ t: number | null }>(`SELECT MIN(next_poll_at_ms) AS t FROM jobs WHERE batch_id = $1 AND state = $2`, [this.batchOrThrow, S.submitted]);
    return r[0]?.t ?? null;
  }

  async pollNow(responseId: string): Promise<boolean> {
    this.writable();
    // The state as a literal: the planner matches the partial index jobs_response_id only to a constant.
    const r = await this.q.query(`UPDATE jobs SET next_poll_at_ms = $3 WHERE batch_id = $1 AND response_id = $2 AND state = '${S.submitted}'`, [
      this.batchOrThrow, responseId, Date.now(),
    ]);
    return (r.rowCount ?? 0) > 0;
  }

  async apply(updates: readonly JobUpdate[], counters: Readonly<Record<string, number>> = {}, gauges: Readonly<Record<string, number>> = {}): Promise<LostClaims> {
    this.writable();
    const bumps = Object.entries(counters).filter(([, v]) => v !== 0);
    const sets = Object.entries(gauges);
    if (updates.length === 0 && bumps.length === 0 && sets.length === 0) return { lost: [] };
    const batch = this.batchOrThrow;
    // One statement applies the page, so a job updated twice in it would take one of the two at
    // random; SQLite applies the first and refuses the second, and so does this.
    const first = new Map<number, JobUpdate>();
    for (const u of updates) {
      const earlier = first.get(u.idx);
      if (earlier) throw StateTransitionError.refused(u, await this.job(u.idx).then((r) => r && { ...r, state: toState(earlier) }));
      first.set(u.idx, u);
    }
    const written = await this.tx(async (c) => {
      let lost: number[] = [];
      if (updates.length > 0) {
        const fin = (u: JobUpdate) => (u.kind === 'finished' ? u : undefined);
        const r = await c.query<{ idx: number }>(APPLY_SQL, [
          batch,
          this.ownerOrThrow,
          Date.now(),
          updates.map((u) => u.idx),
          updates.map((u) => u.attempt),
          updates.map(toState),
          updates.map(fromStates),
          updates.map((u) => u.kind === 'finished'),
          updates.map((u) => (isScheduleUpdate(u) ? null : u.responseId)),
          updates.map((u) => (u.kind === 'postponed' ? null : u.apiStatus)),
          updates.map((u) => (isScheduleUpdate(u) ? null : u.requestId)),
          updates.map((u) => fin(u)?.statusCode ?? null),
          updates.map((u) => fin(u)?.result ?? null),
          updates.map((u) => fin(u)?.errorCode ?? null),
          updates.map((u) => fin(u)?.errorMessage ?? null),
          updates.map((u) => (u.kind === 'finished' ? null : u.nextPollAtMs)),
          updates.map((u) => fin(u)?.parsed ?? null),
          // A postponement is not a poll: it leaves the count and the status as they were.
          updates.map((u) => u.kind !== 'postponed'),
        ]);
        if (r.rows.length !== updates.length) lost = await this.lostOrRefused(c, updates, new Set(r.rows.map((x) => x.idx)));
      }
      if (bumps.length > 0) await c.query(BUMP, [batch, bumps.map(([k]) => k), bumps.map(([, v]) => v)]);
      if (sets.length > 0) await c.query(SET_GAUGES, [batch, sets.map(([k]) => k), sets.map(([, v]) => v)]);
      return { lost };
    });
    // Landed or lost, each of these claims has ended.
    for (const u of updates) this.held.delete(u.idx);
    return written;
  }

  /**
   * The updates of a page that did not land. A job this worker still holds (or one that does not
   * exist) was refused by its state or attempt, as SQLite refuses it: StateTransitionError, and
   * the transaction writes nothing. A job whose claim is gone was taken over by another worker
   * (or finished by it): its update is dropped and reported lost.
   */
  private async lostOrRefused(c: pg.PoolClient, updates: readonly JobUpdate[], landed: ReadonlySet<number>): Promise<number[]> {
    const missed = updates.filter((u) => !landed.has(u.idx));
    const rows = (
      await c.query<{ idx: number; lineNo: number; state: JobState; attempt: number; claimOwner: string | null }>(
        'SELECT idx, line_no AS "lineNo", state, attempt, claim_owner AS "claimOwner" FROM jobs WHERE batch_id = $1 AND idx = ANY($2)',
        [this.batchOrThrow, missed.map((u) => u.idx)],
      )
    ).rows;
    const byIdx = new Map(rows.map((r) => [r.idx, r]));
    for (const u of missed) {
      const row = byIdx.get(u.idx);
      if (!row || row.claimOwner === this.owner) throw StateTransitionError.refused(u, row);
    }
    return missed.map((u) => u.idx);
  }

  requeueUnsuccessful(keyFor: (job: RetryKeyInput) => string): Promise<number> {
    return this.tx((c) => this.requeue(c, RETRYABLE_STATES, keyFor));
  }

  requeueInvalidOutput(keyFor: (job: RetryKeyInput) => string): Promise<number> {
    return this.tx(async (c) => {
      const n = await this.requeue(c, [S.invalid_output], keyFor);
      await c.query(BUMP, [this.batchOrThrow, [OUTPUT_RETRY_COUNTERS.rounds, OUTPUT_RETRY_COUNTERS.jobs], [1, n]]);
      return n;
    });
  }

  private async requeue(c: pg.PoolClient, states: readonly JobState[], keyFor: (job: RetryKeyInput) => string): Promise<number> {
    const batch = this.batchOrThrow;
    let n = 0;
    for (;;) {
      const page = (
        await c.query<{ idx: number; customId: string; attempt: number; bodySha256: string }>(
          `SELECT idx, custom_id AS "customId", attempt, body_sha256 AS "bodySha256" FROM jobs
           WHERE batch_id = $1 AND state = ANY($2) ORDER BY idx LIMIT 1000 FOR UPDATE`,
          [batch, states],
        )
      ).rows;
      if (page.length === 0) return n;
      const r = await c.query(
        `UPDATE jobs j SET state = $3, attempt = j.attempt + 1, idempotency_key = u.key,
           response_id = NULL, api_status = NULL, status_code = NULL, request_id = NULL, result = NULL, parsed = NULL,
           error_code = NULL, error_message = NULL, submitted_at_ms = NULL, next_poll_at_ms = NULL,
           poll_count = 0, finished_at_ms = NULL, updated_at_ms = $2, claim_owner = NULL, claim_expires_ms = NULL
         FROM unnest($4::int[], $5::int[], $6::text[]) AS u(idx, attempt, key)
         WHERE j.batch_id = $1 AND j.idx = u.idx AND j.attempt = u.attempt AND j.state = ANY($7)`,
        [batch, Date.now(), S.pending, page.map((p) => p.idx), page.map((p) => p.attempt),
          page.map((p) => keyFor({ ...p, attempt: p.attempt + 1 })), sourcesOf(S.pending)],
      );
      n += r.rowCount ?? 0;
    }
  }

  /** Only jobs no worker holds: a claimed one is being sent right now. */
  async holdForBudget(): Promise<number> {
    this.writable();
    const r = await this.pool.query(
      `UPDATE jobs SET state = $2, updated_at_ms = $3 WHERE batch_id = $1 AND state = $4 AND (claim_owner IS NULL OR claim_expires_ms < $3)`,
      [this.batchOrThrow, S.not_sent_budget, Date.now(), S.pending],
    );
    return r.rowCount ?? 0;
  }

  async releaseBudgetHold(): Promise<number> {
    this.writable();
    const r = await this.pool.query(`UPDATE jobs SET state = $2, updated_at_ms = $3 WHERE batch_id = $1 AND state = $4`, [
      this.batchOrThrow,
      S.pending,
      Date.now(),
      S.not_sent_budget,
    ]);
    return r.rowCount ?? 0;
  }

  async snapshot<T>(read: (reader: StoreReader) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let broken: Error | undefined;
    const onError = (e: Error) => (broken = e);
    c.on('error', onError);
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const out = await read(new PgReader(c, this.location, this.batchId));
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.off('error', onError);
      c.release(broken);
    }
  }

  /**
   * Joins the batch as a worker. Any number may join: there is no lease to refuse, only the
   * claims on jobs. `staleMs` is how long a claim (and a worker's share of the budget) outlives
   * its owner's last heartbeat.
   */
  async acquireLease(owner: string, staleMs: number): Promise<void> {
    this.writable();
    this.owner = owner;
    this.claimTtlMs = staleMs;
    if (this.batchId !== undefined) await this.beat(this.q, owner);
  }

  private async beat(q: Queryable, owner: string): Promise<void> {
    const now = Date.now();
    await q.query(
      `INSERT INTO workers (batch_id, owner, host, pid, started_at_ms, heartbeat_ms) VALUES ($1, $2, $3, $4, $5, $5)
       ON CONFLICT (batch_id, owner) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms`,
      [this.batchOrThrow, owner, hostIdentity(), process.pid, now],
    );
  }

  /**
   * Extends this worker's claims and its row in `workers`. Always true: a worker whose claims
   * were taken while it was paused keeps working; what it had claimed is simply not its own any
   * more, and apply drops its updates for those jobs.
   */
  async heartbeat(owner: string): Promise<boolean> {
    await this.tx(async (c) => {
      await this.beat(c, owner);
      await c.query('UPDATE jobs SET claim_expires_ms = $3 WHERE batch_id = $1 AND claim_owner = $2', [this.batchOrThrow, owner, Date.now() + this.claimTtlMs]);
    });
    return true;
  }

  async releaseLease(owner: string): Promise<void> {
    if (this.batchId === undefined) return;
    await this.tx(async (c) => {
      await c.query('UPDATE jobs SET claim_owner = NULL, claim_expires_ms = NULL WHERE batch_id = $1 AND claim_owner = $2', [this.batchId, owner]);
      await c.query('DELETE FROM workers WHERE batch_id = $1 AND owner = $2', [this.batchId, owner]);
    });
    this.held.clear();
  }

  async anyAccepted(): Promise<boolean> {
    const c = await this.counts();
    return Object.entries(c).some(([s, n]) => s !== S.pending && s !== S.not_sent_budget && s !== S.invalid && n > 0);
  }

  async mayChangeKey(): Promise<boolean> {
    const c = await this.counters();
    return !(await this.anyAccepted()) && (!c[KEY_COUNTERS.sendingRuns] || (c[KEY_COUNTERS.keyRejected] ?? 0) > 0);
  }

  async changeKey(salt: string, fingerprint: string): Promise<void> {
    await this.tx(async (c) => {
      await c.query('UPDATE batches SET key_salt = $2, key_fingerprint = $3 WHERE id = $1', [this.batchOrThrow, salt, fingerprint]);
      await c.query('DELETE FROM counters WHERE batch_id = $1 AND name = $2', [this.batchOrThrow, KEY_COUNTERS.keyRejected]);
    });
  }

  async noteSendingRun(): Promise<void> {
    this.writable();
    await this.q.query(BUMP, [this.batchOrThrow, [KEY_COUNTERS.sendingRuns], [1]]);
  }

  async noteKeyRejected(): Promise<void> {
    this.writable();
    if (!(await this.anyAccepted())) await this.q.query(BUMP, [this.batchOrThrow, [KEY_COUNTERS.keyRejected], [1]]);
  }

  async destroy(): Promise<void> {
    this.writable();
    if (this.batchId !== undefined) await this.q.query('DELETE FROM batches WHERE id = $1', [this.batchId]);
    this.batchId = undefined;
    await this.close();
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
