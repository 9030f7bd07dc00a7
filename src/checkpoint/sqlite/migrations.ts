import type Database from 'better-sqlite3';
import { CheckpointError } from '../../errors.ts';

/**
 * Schema migrations: an append-only array, applied in order inside one transaction, with
 * `PRAGMA user_version` as the ledger. Never edit or reorder an entry; add a new one.
 * State names appear here as literals on purpose: a migration is frozen history, and must keep
 * meaning what it meant when it shipped even if a constant is renamed later.
 *
 * v1 design notes:
 * - One row per non-empty input line in `jobs`, keyed by `idx` (0-based position among
 *   non-empty lines), so output order is a primary-key scan and "the next pending jobs after
 *   idx N" is a range scan. `line_no` is kept for error messages only.
 * - The normalised request `body` lives in the row, so memory does not grow with the input:
 *   the engine reads bodies in pages from here, never from an in-memory array.
 * - Times are integer milliseconds since the epoch (`*_ms`): cheap to compare in SQL, no
 *   time-zone parsing, and the same unit as Date.now().
 * - `jobs_due` is a partial index over submitted jobs only, ordered by next poll time: the poll
 *   scheduler's hot query touches just the jobs that are out at the server.
 * - `custom_id` is UNIQUE: duplicates are found by the insert itself, not by a Set of every id
 *   held in memory. Lines skipped as invalid store NULL there (NULLs do not collide).
 * - `lease` holds at most one row: which process is running this batch and when it last said so.
 * - `counters` accumulates request counts across every run of the batch (for summaries).
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE batch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    input_path TEXT NOT NULL,
    input_bytes INTEGER NOT NULL,
    input_sha256 TEXT NOT NULL,
    namespace TEXT NOT NULL,
    key_salt TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    base_url TEXT NOT NULL,
    options_json TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    loaded_at_ms INTEGER
  );
  CREATE TABLE jobs (
    idx INTEGER PRIMARY KEY,
    line_no INTEGER NOT NULL,
    custom_id TEXT UNIQUE,
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
    submitted_at_ms INTEGER,
    next_poll_at_ms INTEGER,
    poll_count INTEGER NOT NULL DEFAULT 0,
    finished_at_ms INTEGER,
    updated_at_ms INTEGER NOT NULL
  );
  CREATE INDEX jobs_state ON jobs (state, idx);
  CREATE INDEX jobs_due ON jobs (next_poll_at_ms) WHERE state = 'submitted';
  CREATE TABLE lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    heartbeat_ms INTEGER NOT NULL
  );
  CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  );
  `,
  // v2: completion webhooks name a response id; finding its job must not scan the table.
  `
  CREATE INDEX jobs_response_id ON jobs (response_id) WHERE response_id IS NOT NULL;
  `,
  // v3: answers checked against a schema keep their parsed value (`parsed`, JSON text) for the
  // output; data rows keep their values (`source_row`, a JSON object) for CSV output; fan-out
  // jobs say which model and sample they are (`model` is the request's, for per-model figures).
  `
  ALTER TABLE jobs ADD COLUMN parsed TEXT;
  ALTER TABLE jobs ADD COLUMN source_row TEXT;
  ALTER TABLE jobs ADD COLUMN model TEXT;
  ALTER TABLE jobs ADD COLUMN sample INTEGER;
  `,
  /*
   * v4: `status` in constant time, whatever the batch's size (it summed every row before).
   * - `job_counts` holds jobs per state, `job_totals` the summary's sums: tokens of the stored
   *   results, polls, jobs that went to the background. The job store keeps both true in the
   *   same transaction as each page of inserts and updates, one write per page (triggers, one
   *   run per row, cost the engine about 10 µs of CPU per update). `max_polls` and
   *   `last_finished_at_ms` are high-water marks (most polls any attempt needed, when a job last
   *   finished): only `retry` makes them differ from a recount. The rows already in a checkpoint
   *   are summed once here, by the usage paths of the endpoints table when v4 shipped.
   * - `jobs_out` orders the jobs out at the server by age, for status's oldest running jobs.
   * The poll queries use `jobs_due` through INDEXED BY: without statistics the planner chose
   * `jobs_state (state=?)` and sorted every submitted job in a temporary B-tree.
   */
  `
  CREATE TABLE job_counts (
    state TEXT PRIMARY KEY,
    n INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO job_counts (state, n) SELECT state, COUNT(*) FROM jobs GROUP BY state;

  CREATE TABLE job_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    polls INTEGER NOT NULL,
    max_polls INTEGER NOT NULL,
    background INTEGER NOT NULL,
    last_finished_at_ms INTEGER
  );
  INSERT INTO job_totals
  SELECT 1, t.input, t.output, t.cached, t.reasoning, p.polls, p.max_polls, p.background, p.last
  FROM (
    SELECT
      COALESCE(SUM(COALESCE(json_extract(u, '$.input_tokens'), json_extract(u, '$.prompt_tokens'), 0)), 0) AS input,
      COALESCE(SUM(COALESCE(json_extract(u, '$.output_tokens'), json_extract(u, '$.completion_tokens'), 0)), 0) AS output,
      COALESCE(SUM(COALESCE(json_extract(u, '$.input_tokens_details.cached_tokens'), json_extract(u, '$.prompt_tokens_details.cached_tokens'), json_extract(u, '$.cache_read_input_tokens'), 0)), 0) AS cached,
      COALESCE(SUM(COALESCE(json_extract(u, '$.output_tokens_details.reasoning_tokens'), json_extract(u, '$.completion_tokens_details.reasoning_tokens'), 0)), 0) AS reasoning
    FROM (SELECT json_extract(result, '$.usage') AS u FROM jobs WHERE CASE WHEN json_valid(result) THEN json_type(result, '$.usage') END = 'object')
  ) AS t, (
    SELECT COALESCE(SUM(poll_count), 0) AS polls, COALESCE(MAX(poll_count), 0) AS max_polls,
      COUNT(submitted_at_ms) AS background, MAX(finished_at_ms) AS last
    FROM jobs
  ) AS p;

  CREATE INDEX jobs_out ON jobs (submitted_at_ms) WHERE state = 'submitted';
  `,
  // v5: the lease names its process by pid and start time: a pid reused by another process after
  // the runner died no longer looks like the runner.
  `
  ALTER TABLE lease ADD COLUMN pid_started TEXT;
  `,
  /*
   * v6: the response-id index holds only the jobs out at the server, the only ones a webhook can
   * name (pollNow matches state 'submitted'). Kept for every job that ever had an id, it was
   * written on every finish, a random insert into an index as large as the batch once ids are
   * random as a real server's are: about 20 µs of CPU per job at 100,000 jobs. Now a job that
   * finishes on its POST never touches it, and one that is polled touches an index no larger
   * than the jobs out at once.
   */
  `
  DROP INDEX jobs_response_id;
  CREATE INDEX jobs_response_id ON jobs (response_id) WHERE state = 'submitted';
  `,
  /*
   * v7: a job is loaded without its first attempt's idempotency key (NULL), which every read
   * derives with `attempt_key` (connection.ts) from the batch's namespace, the custom_id and the
   * body's hash: hashing a key per line cost the load about a tenth of its time, and the key 60
   * bytes a row. No table changes; the version is bumped so that a sailbatch from before, which
   * would send such a job without a key, refuses the file instead.
   */
  `
  SELECT 1;
  `,
  /*
   * v8: a job is loaded without its body's hash too (NULL), which the reads that need it (the
   * key, a requeue) derive from the stored body with `body_hash`: hashing each body while loading
   * was a fifth of the validation pass, and the hash took 64 bytes a row. Bumped, as v7 was, so
   * that a v7 sailbatch, which would find no hash to derive a key from, refuses the file.
   */
  `
  SELECT 1;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class SchemaTooNewError extends CheckpointError {
  override name = 'SchemaTooNewError';
}

function refuseNewer(current: number, file: string): void {
  if (current > SCHEMA_VERSION) {
    throw new SchemaTooNewError(
      `${file}: checkpoint was written by sailbatch schema v${current}, this build supports v${SCHEMA_VERSION}; upgrade sailbatch`,
    );
  }
}

/** Brings `db` up to SCHEMA_VERSION, or refuses a file written by a newer sailbatch. */
export function migrate(db: Database.Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  refuseNewer(current, file);
  if (current === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Read again under the write lock: another process opening the same file may have migrated
    // it since the read above, and re-running its migrations would fail.
    const locked = db.pragma('user_version', { simple: true }) as number;
    refuseNewer(locked, file);
    for (let v = locked; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/**
 * The oldest schema a read-only open reads as it is: v7 and v8 changed no table, and a v6 file has
 * every hash and key stored, so `status` and `export` need not wait for a `run` to upgrade it.
 */
export const READABLE_FROM = 6;

/** For read-only opens: the same refusal, without writing. */
export function assertSchemaReadable(db: Database.Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  refuseNewer(current, file);
  if (current === 0) throw new CheckpointError(`${file}: not a sailbatch checkpoint (no schema); check --db`);
  if (current < READABLE_FROM) {
    throw new CheckpointError(`${file}: checkpoint schema v${current} is older than this build reads (v${READABLE_FROM}); run \`sailbatch run\` on it once to upgrade`);
  }
}
