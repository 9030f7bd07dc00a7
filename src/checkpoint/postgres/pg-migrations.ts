import type pg from 'pg';
import { CheckpointError } from '../../errors.ts';
import { JOB_STATES } from '../job-states.ts';

const S = JOB_STATES;

/**
 * PostgreSQL schema migrations: an append-only array, applied in order in one transaction under
 * an advisory lock (two workers starting at once must not both migrate), with the
 * `sailbatch_schema` row as the ledger. Never edit or reorder an entry; add a new one.
 *
 * v1 design notes:
 * - One database holds many batches: every table is keyed by `batch_id` first, so each batch's
 *   rows are one index range and a batch never scans another's.
 * - `jobs` mirrors the SQLite schema (idx = 0-based position among non-empty lines, the stored
 *   body, `_ms` integer times in the same unit as Date.now()) plus the claim: `claim_owner` is
 *   the worker that may write the job now, `claim_expires_ms` when that right ends unless the
 *   owner's heartbeat extends it. Claims are held only while a worker has a request for the job
 *   in flight (or is waiting to send it again): a submitted job waiting for its poll is
 *   unclaimed, so a heartbeat extends at most the worker's share of the budget, not every job
 *   out at the server.
 * - `jobs_pending` and `jobs_due` are partial indexes over exactly the rows that the claim
 *   queries take from (pending in input order; submitted by next poll time), so a claim page is
 *   an index range scan bounded by its LIMIT, whatever the size of the batch.
 * - `jobs_claims` finds a worker's own claims for its heartbeat.
 * - `job_counts` holds the number of jobs per state, kept by statement-level triggers from the
 *   transition tables (one upsert per statement, not one per row), so `status` and every
 *   worker's "is the batch done?" cost the same on ten million lines as on ten.
 * - `batches` carries the fleet's shared budget (`concurrency`, `max_rps`) and the shared
 *   `pause_until_ms` that a 429 seen by any worker sets for all of them (`rate_limits` counts
 *   those, so that every worker also cuts its share once per 429 wave, not only waits).
 * - `workers` has one row per live worker process and its heartbeat: each takes its share of
 *   the budget from the number of live rows. `slots` is how many requests the worker may have in
 *   flight; a worker grows it only under the batch row's lock and only into what the live
 *   workers leave free, so together they never hold more than `concurrency`.
 */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE batches (
    id BIGSERIAL PRIMARY KEY,
    input_path TEXT NOT NULL,
    input_bytes BIGINT NOT NULL,
    input_sha256 TEXT NOT NULL,
    namespace TEXT NOT NULL,
    key_salt TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    base_url TEXT NOT NULL,
    options_json TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    max_rps DOUBLE PRECISION NOT NULL,
    pause_until_ms BIGINT NOT NULL DEFAULT 0,
    rate_limits BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    loaded_at_ms BIGINT,
    loader TEXT,
    UNIQUE (input_sha256, namespace)
  );
  CREATE TABLE jobs (
    batch_id BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    line_no INTEGER NOT NULL,
    custom_id TEXT,
    url TEXT NOT NULL,
    body TEXT,
    body_sha256 TEXT,
    completion_window TEXT,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    response_id TEXT,
    api_status TEXT,
    status_code INTEGER,
    request_id TEXT,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    submitted_at_ms BIGINT,
    next_poll_at_ms BIGINT,
    poll_count INTEGER NOT NULL DEFAULT 0,
    finished_at_ms BIGINT,
    updated_at_ms BIGINT NOT NULL,
    claim_owner TEXT,
    claim_expires_ms BIGINT,
    PRIMARY KEY (batch_id, idx),
    UNIQUE (batch_id, custom_id)
  );
  CREATE INDEX jobs_pending ON jobs (batch_id, idx) WHERE state = '${S.pending}';
  CREATE INDEX jobs_due ON jobs (batch_id, next_poll_at_ms) WHERE state = '${S.submitted}';
  CREATE INDEX jobs_response_id ON jobs (batch_id, response_id) WHERE response_id IS NOT NULL;
  CREATE INDEX jobs_claims ON jobs (batch_id, claim_owner) WHERE claim_owner IS NOT NULL;
  CREATE INDEX jobs_unsuccessful ON jobs (batch_id, state, idx);
  CREATE TABLE job_counts (
    batch_id BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (batch_id, state)
  );
  CREATE FUNCTION sailbatch_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO job_counts (batch_id, state, n)
      SELECT batch_id, state, COUNT(*) FROM new_rows GROUP BY batch_id, state ORDER BY batch_id, state
      ON CONFLICT (batch_id, state) DO UPDATE SET n = job_counts.n + excluded.n;
    RETURN NULL;
  END $$;
  CREATE FUNCTION sailbatch_count_updated() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO job_counts (batch_id, state, n)
      SELECT batch_id, state, SUM(d) FROM (
        SELECT batch_id, state, 1 AS d FROM new_rows
        UNION ALL
        SELECT batch_id, state, -1 AS d FROM old_rows
      ) changes GROUP BY batch_id, state HAVING SUM(d) <> 0 ORDER BY batch_id, state
      ON CONFLICT (batch_id, state) DO UPDATE SET n = job_counts.n + excluded.n;
    RETURN NULL;
  END $$;
  CREATE TRIGGER jobs_count_inserted AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sailbatch_count_inserted();
  CREATE TRIGGER jobs_count_updated AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sailbatch_count_updated();
  CREATE TABLE counters (
    batch_id BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (batch_id, name)
  );
  CREATE TABLE workers (
    batch_id BIGINT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    slots INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (batch_id, owner)
  );
  `,
  // v2: as SQLite's v3: parsed answers, the data row of a templated request, fan-out model and sample.
  `
  ALTER TABLE jobs ADD COLUMN parsed TEXT, ADD COLUMN source_row TEXT, ADD COLUMN model TEXT, ADD COLUMN sample INTEGER;
  `,
  // v3: as SQLite's v6: the response-id index holds only the jobs out at the server, the only ones a webhook can name.
  `
  DROP INDEX jobs_response_id;
  CREATE INDEX jobs_response_id ON jobs (batch_id, response_id) WHERE state = 'submitted';
  `,
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** Any fixed number: the advisory lock every sailbatch process takes while it migrates. */
const MIGRATION_LOCK = 0x5a11_ba7c;

export class PgSchemaTooNewError extends CheckpointError {
  override name = 'PgSchemaTooNewError';
}

function refuseNewer(current: number, where: string): void {
  if (current > PG_SCHEMA_VERSION) {
    throw new PgSchemaTooNewError(
      `${where}: database was written by sailbatch schema v${current}, this build supports v${PG_SCHEMA_VERSION}; upgrade sailbatch`,
    );
  }
}

async function currentVersion(c: pg.ClientBase): Promise<number> {
  const r = await c.query<{ version: number }>(
    `SELECT version FROM sailbatch_schema WHERE id = 1`,
  ).catch((e: { code?: string }) => {
    // 42P01: undefined_table, a database sailbatch never used.
    if (e.code === '42P01') return { rows: [] };
    throw e;
  });
  return r.rows[0]?.version ?? 0;
}

/** Brings the database up to PG_SCHEMA_VERSION, or refuses one written by a newer sailbatch. */
export async function migratePg(c: pg.ClientBase, where: string): Promise<void> {
  const seen = await currentVersion(c);
  refuseNewer(seen, where);
  if (seen === PG_SCHEMA_VERSION) return;
  await c.query('BEGIN');
  try {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS sailbatch_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)');
    // Read again under the lock: another worker may have migrated since the read above.
    const locked = await currentVersion(c);
    refuseNewer(locked, where);
    for (let v = locked; v < PG_SCHEMA_VERSION; v++) await c.query(PG_MIGRATIONS[v]!);
    await c.query(
      'INSERT INTO sailbatch_schema (id, version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET version = excluded.version',
      [PG_SCHEMA_VERSION],
    );
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

/** For read-only opens: the same refusal, without writing; a database sailbatch never used has no batches. */
export async function assertPgSchemaReadable(c: pg.ClientBase, where: string): Promise<void> {
  const current = await currentVersion(c);
  refuseNewer(current, where);
  if (current === 0) throw new CheckpointError(`${where}: no sailbatch batches in this database (never used by sailbatch); check --db`);
  if (current < PG_SCHEMA_VERSION) {
    throw new CheckpointError(`${where}: database schema v${current} is older than v${PG_SCHEMA_VERSION}; run \`sailbatch run\` or \`sailbatch worker\` on it once to upgrade`);
  }
}
