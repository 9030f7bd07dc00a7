import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { CheckpointBusyError, CheckpointError, StateTransitionError } from '../errors.ts';
import { JOB_STATES, RETRYABLE_STATES, sourcesOf, type JobState } from './job-states.ts';
import { assertSchemaReadable, migrate } from './migrations.ts';

export interface BatchMeta {
  inputPath: string;
  inputBytes: number;
  inputSha256: string;
  namespace: string;
  keySalt: string;
  keyFingerprint: string;
  baseUrl: string;
  optionsJson: string;
  createdAtMs: number;
  loadedAtMs: number | null;
}

export interface JobRow {
  idx: number;
  line_no: number;
  custom_id: string | null;
  url: string;
  body: string | null;
  body_sha256: string | null;
  completion_window: string | null;
  state: JobState;
  attempt: number;
  idempotency_key: string | null;
  response_id: string | null;
  api_status: string | null;
  status_code: number | null;
  request_id: string | null;
  result: string | null;
  error_code: string | null;
  error_message: string | null;
  parsed: string | null;
  source_row: string | null;
  model: string | null;
  sample: number | null;
  submitted_at_ms: number | null;
  next_poll_at_ms: number | null;
  poll_count: number;
  finished_at_ms: number | null;
  updated_at_ms: number;
}

export interface NewJob {
  idx: number;
  lineNo: number;
  customId: string | null;
  url: string;
  body: string | null;
  bodySha256: string | null;
  completionWindow: string | null;
  state: typeof JOB_STATES.pending | typeof JOB_STATES.invalid;
  idempotencyKey: string | null;
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
  /** The data row a templated request was made from (JSON object text). */
  sourceRow?: string | null | undefined;
  model?: string | null | undefined;
  /** Fan-out sample number (1-based), when --samples asked for more than one. */
  sample?: number | null | undefined;
}

/** A change to one job, queued by the engine and applied with others in one transaction. */
export type JobUpdate =
  | {
      kind: 'submitted';
      idx: number;
      attempt: number;
      responseId: string;
      apiStatus: string | null;
      requestId: string | null;
      nextPollAtMs: number;
    }
  | {
      kind: 'polled';
      idx: number;
      attempt: number;
      apiStatus: string | null;
      nextPollAtMs: number;
    }
  | {
      kind: 'finished';
      idx: number;
      attempt: number;
      state: Exclude<JobState, 'pending' | 'submitted' | 'invalid'>;
      responseId: string | null;
      apiStatus: string | null;
      statusCode: number | null;
      requestId: string | null;
      result: string | null;
      /** The answer's parsed JSON text, when the request asked for a schema and the answer follows it. */
      parsed: string | null;
      errorCode: string | null;
      errorMessage: string | null;
    };

export interface LeaseInfo {
  owner: string;
  pid: number;
  host: string;
  heartbeatMs: number;
}

export type StateCounts = Record<JobState, number>;

const S = JOB_STATES;

/** Counters that record what the batch's API key may have bought (see mayChangeKey). */
const KEY_COUNTERS = { sendingRuns: 'sending_runs', keyRejected: 'key_rejected' } as const;

function deadHere(lease: LeaseInfo): boolean {
  if (lease.host !== hostname()) return false;
  try {
    process.kill(lease.pid, 0);
    return false;
  } catch (e) {
    return (e as { code?: string }).code === 'ESRCH';
  }
}

const inList = (states: readonly JobState[]) => states.map((s) => `'${s}'`).join(', ');

/**
 * The checkpoint: the one place where a batch's state lives. Every statement is prepared once
 * here; every state change is a named method whose SQL is guarded by the states it may leave
 * (from TRANSITIONS), and a guard that touches no row is an error, not a silent no-op.
 */
export class Checkpoint {
  readonly db: Database.Database;
  private readonly stmts;
  private readonly finishStmts: Map<JobState, Database.Statement>;

  private constructor(
    readonly file: string,
    readonly readonly: boolean,
  ) {
    this.db = new Database(file, { readonly, fileMustExist: readonly });
    if (readonly) {
      this.db.pragma('busy_timeout = 5000');
      assertSchemaReadable(this.db, file);
    } else {
      this.db.pragma('journal_mode = WAL');
      // The connection that switched to WAL keeps FULL unless told otherwise. NORMAL in WAL
      // survives a killed process (what the engine must survive); after an OS crash the
      // last transactions may be lost, which idempotency keys make safe (design invariant 3).
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('foreign_keys = ON');
      migrate(this.db, file);
    }
    const db = this.db;
    this.stmts = {
      getBatch: db.prepare('SELECT * FROM batch WHERE id = 1'),
      counts: db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state'),
      total: db.prepare('SELECT COUNT(*) AS n FROM jobs'),
      byCustomId: db.prepare('SELECT line_no FROM jobs WHERE custom_id = ?'),
      getJob: db.prepare('SELECT * FROM jobs WHERE idx = ?'),
      jobsPage: db.prepare('SELECT * FROM jobs WHERE idx > ? ORDER BY idx LIMIT 1000'),
      oldestSubmitted: db.prepare(
        `SELECT * FROM jobs WHERE state = '${S.submitted}' ORDER BY submitted_at_ms LIMIT ?`,
      ),
      nextDueAt: db.prepare(`SELECT MIN(next_poll_at_ms) AS t FROM jobs WHERE state = '${S.submitted}'`),
      counters: db.prepare('SELECT name, value FROM counters'),
      anyAccepted: db.prepare(`SELECT 1 FROM jobs WHERE state NOT IN ('${S.pending}', '${S.invalid}') LIMIT 1`),
      getLease: db.prepare('SELECT owner, pid, host, heartbeat_ms AS heartbeatMs FROM lease WHERE id = 1'),
      ...(readonly ? {} : this.prepareWrites(db)),
    } as const;
    this.finishStmts = new Map();
    if (!readonly) {
      // A submitted job only ever finishes through a GET (the poll that saw it end), which
      // counts as a poll like the ones before it; `state` in SET is the row's old state.
      for (const to of [S.completed, S.failed, S.incomplete, S.cancelled, S.expired, S.invalid_output] as const) {
        this.finishStmts.set(
          to,
          db.prepare(
            `UPDATE jobs SET state = '${to}', response_id = COALESCE(@responseId, response_id),
               api_status = @apiStatus, status_code = @statusCode, request_id = COALESCE(@requestId, request_id),
               result = @result, parsed = @parsed, error_code = @errorCode, error_message = @errorMessage,
               next_poll_at_ms = NULL, poll_count = poll_count + (state = '${S.submitted}'), finished_at_ms = @now, updated_at_ms = @now
             WHERE idx = @idx AND attempt = @attempt AND state IN (${inList(sourcesOf(to))})`,
          ),
        );
      }
    }
  }

  private prepareWrites(db: Database.Database) {
    return {
      insertBatch: db.prepare(
        `INSERT INTO batch (id, input_path, input_bytes, input_sha256, namespace, key_salt, key_fingerprint,
           base_url, options_json, created_at_ms, loaded_at_ms)
         VALUES (1, @inputPath, @inputBytes, @inputSha256, @namespace, @keySalt, @keyFingerprint,
           @baseUrl, @optionsJson, @createdAtMs, NULL)`,
      ),
      markLoaded: db.prepare(
        'UPDATE batch SET loaded_at_ms = @now, input_bytes = @inputBytes, input_sha256 = @inputSha256 WHERE id = 1',
      ),
      insertJob: db.prepare(
        `INSERT INTO jobs (idx, line_no, custom_id, url, body, body_sha256, completion_window, state, attempt,
           idempotency_key, error_code, error_message, source_row, model, sample, updated_at_ms)
         VALUES (@idx, @lineNo, @customId, @url, @body, @bodySha256, @completionWindow, @state, 0,
           @idempotencyKey, @errorCode, @errorMessage, @sourceRow, @model, @sample, @now)
         ON CONFLICT (custom_id) DO NOTHING`,
      ),
      pendingAfter: db.prepare(
        `SELECT * FROM jobs WHERE state = '${S.pending}' AND idx > ? ORDER BY idx LIMIT ?`,
      ),
      due: db.prepare(
        `SELECT * FROM jobs WHERE state = '${S.submitted}' AND next_poll_at_ms <= ? ORDER BY next_poll_at_ms`,
      ),
      submitted: db.prepare(
        `UPDATE jobs SET state = '${S.submitted}', response_id = @responseId, api_status = @apiStatus,
           request_id = @requestId, submitted_at_ms = @now, next_poll_at_ms = @nextPollAtMs, updated_at_ms = @now
         WHERE idx = @idx AND attempt = @attempt AND state IN (${inList(sourcesOf(S.submitted))})`,
      ),
      polled: db.prepare(
        `UPDATE jobs SET api_status = @apiStatus, next_poll_at_ms = @nextPollAtMs, poll_count = poll_count + 1,
           updated_at_ms = @now
         WHERE idx = @idx AND attempt = @attempt AND state = '${S.submitted}'`,
      ),
      retryable: db.prepare(
        `SELECT idx, custom_id, attempt, body_sha256 FROM jobs WHERE state IN (${inList(RETRYABLE_STATES)}) ORDER BY idx LIMIT 1000`,
      ),
      requeue: db.prepare(
        `UPDATE jobs SET state = '${S.pending}', attempt = attempt + 1, idempotency_key = @key,
           response_id = NULL, api_status = NULL, status_code = NULL, request_id = NULL, result = NULL, parsed = NULL,
           error_code = NULL, error_message = NULL, submitted_at_ms = NULL, next_poll_at_ms = NULL,
           poll_count = 0, finished_at_ms = NULL, updated_at_ms = @now
         WHERE idx = @idx AND attempt = @attempt AND state IN (${inList(sourcesOf(S.pending))})`,
      ),
      putLease: db.prepare(
        `INSERT INTO lease (id, owner, pid, host, heartbeat_ms) VALUES (1, @owner, @pid, @host, @now)
         ON CONFLICT (id) DO UPDATE SET owner = @owner, pid = @pid, host = @host, heartbeat_ms = @now`,
      ),
      beat: db.prepare('UPDATE lease SET heartbeat_ms = @now WHERE id = 1 AND owner = @owner'),
      dropLease: db.prepare('DELETE FROM lease WHERE id = 1 AND owner = ?'),
      pollNow: db.prepare(
        `UPDATE jobs SET next_poll_at_ms = @now WHERE response_id = @responseId AND state = '${S.submitted}'`,
      ),
      setKey: db.prepare('UPDATE batch SET key_salt = @salt, key_fingerprint = @fingerprint WHERE id = 1'),
      bump: db.prepare(
        'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
      ),
    };
  }

  static open(file: string, options: { readonly?: boolean } = {}): Checkpoint {
    try {
      return new Checkpoint(file, options.readonly ?? false);
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
        throw new CheckpointError(`${file}: not a sailbatch checkpoint (${code}); check --db`, { cause: err });
      }
      // better-sqlite3 says "directory does not exist" for a missing folder, SQLITE_CANTOPEN for a missing file.
      if (options.readonly && (code === 'SQLITE_CANTOPEN' || (err as Error).message.includes('does not exist'))) {
        throw new CheckpointError(
          existsSync(file) ? `${file}: cannot open the checkpoint (${code}); check that it is readable` : `${file}: no such checkpoint; check --db`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private get w() {
    const s = this.stmts;
    if (!('insertJob' in s)) throw new CheckpointError(`${this.file}: opened read-only`);
    return s as typeof s & ReturnType<Checkpoint['prepareWrites']>;
  }

  batch(): BatchMeta | undefined {
    const r = this.stmts.getBatch.get() as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return {
      inputPath: r['input_path'] as string,
      inputBytes: r['input_bytes'] as number,
      inputSha256: r['input_sha256'] as string,
      namespace: r['namespace'] as string,
      keySalt: r['key_salt'] as string,
      keyFingerprint: r['key_fingerprint'] as string,
      baseUrl: r['base_url'] as string,
      optionsJson: r['options_json'] as string,
      createdAtMs: r['created_at_ms'] as number,
      loadedAtMs: (r['loaded_at_ms'] as number | null) ?? null,
    };
  }

  createBatch(meta: Omit<BatchMeta, 'loadedAtMs'>): void {
    this.w.insertBatch.run(meta);
  }

  /** Whether the server ever accepted a job of this batch (under the batch's API key). */
  anyAccepted(): boolean {
    return this.stmts.anyAccepted.get() !== undefined;
  }

  /**
   * Whether the batch's API key may be replaced: only if the old one can have bought nothing.
   * No run ever started sending, or the last was refused for its key (401/403) with nothing
   * accepted. "Nothing accepted" alone is not enough: a POST in flight at a crash is not here.
   */
  mayChangeKey(): boolean {
    const c = this.counters();
    return !this.anyAccepted() && (!c[KEY_COUNTERS.sendingRuns] || (c[KEY_COUNTERS.keyRejected] ?? 0) > 0);
  }

  changeKey(salt: string, fingerprint: string): void {
    this.db.transaction(() => {
      this.w.setKey.run({ salt, fingerprint });
      this.w.bump.run(KEY_COUNTERS.keyRejected, -(this.counters()[KEY_COUNTERS.keyRejected] ?? 0));
    })();
  }

  /** Recorded before a run sends anything: from now on the key may have bought something. */
  noteSendingRun(): void {
    this.w.bump.run(KEY_COUNTERS.sendingRuns, 1);
  }

  /** The run stopped because the server refused the key; if nothing was accepted, it bought nothing. */
  noteKeyRejected(): void {
    if (!this.anyAccepted()) this.w.bump.run(KEY_COUNTERS.keyRejected, 1);
  }

  markLoaded(inputBytes: number, inputSha256: string): void {
    this.w.markLoaded.run({ now: Date.now(), inputBytes, inputSha256 });
  }

  /** Inserts jobs in one transaction; returns the ones whose custom_id was already taken. */
  insertJobs(jobs: readonly NewJob[]): NewJob[] {
    const now = Date.now();
    const dupes: NewJob[] = [];
    this.db.transaction(() => {
      for (const job of jobs) {
        const res = this.w.insertJob.run({ errorCode: null, errorMessage: null, sourceRow: null, model: null, sample: null, ...job, now });
        if (res.changes === 0) dupes.push(job);
      }
    })();
    return dupes;
  }

  lineOfCustomId(customId: string): number | undefined {
    return (this.stmts.byCustomId.get(customId) as { line_no: number } | undefined)?.line_no;
  }

  job(idx: number): JobRow | undefined {
    return this.stmts.getJob.get(idx) as JobRow | undefined;
  }

  pendingAfter(afterIdx: number, limit: number): JobRow[] {
    return this.w.pendingAfter.all(afterIdx, limit) as JobRow[];
  }

  /**
   * Up to `take` submitted jobs whose poll is due, skipping those `busy` says are in flight.
   * In-flight GETs are tracked in memory, not written here, so a crash leaves nothing to undo.
   */
  duePolls(nowMs: number, take: number, busy: (idx: number) => boolean): JobRow[] {
    const rows: JobRow[] = [];
    for (const row of this.w.due.iterate(nowMs) as IterableIterator<JobRow>) {
      if (rows.length >= take) break;
      if (!busy(row.idx)) rows.push(row);
    }
    return rows;
  }

  /** Makes a submitted job's poll due now (a completion webhook named it); false if none matched. */
  pollNow(responseId: string): boolean {
    return this.w.pollNow.run({ responseId, now: Date.now() }).changes > 0;
  }

  nextPollAt(): number | null {
    return (this.stmts.nextDueAt.get() as { t: number | null }).t;
  }

  /** Applies queued job updates and counter increments in one transaction. */
  apply(updates: readonly JobUpdate[], counters: Readonly<Record<string, number>> = {}): void {
    if (updates.length === 0 && Object.keys(counters).length === 0) return;
    const now = Date.now();
    this.db.transaction(() => {
      for (const u of updates) {
        let changes: number;
        if (u.kind === 'submitted') changes = this.w.submitted.run({ ...u, now }).changes;
        else if (u.kind === 'polled') changes = this.w.polled.run({ ...u, now }).changes;
        else {
          const { kind: _k, state, ...rest } = u;
          changes = this.finishStmts.get(state)!.run({ ...rest, now }).changes;
        }
        if (changes !== 1) {
          const row = this.job(u.idx);
          throw new StateTransitionError(
            `job ${u.idx} (line ${row?.line_no}): cannot apply "${u.kind}" for attempt ${u.attempt}; ` +
              `it is ${row?.state} at attempt ${row?.attempt}. Another process may be writing this checkpoint.`,
          );
        }
      }
      for (const [name, value] of Object.entries(counters)) if (value) this.w.bump.run(name, value);
    })();
  }

  /**
   * Moves every job that ended unsuccessfully back to pending with attempt + 1. `keyFor` gives
   * the new attempt's idempotency key; it is stored before anything is sent.
   */
  requeueUnsuccessful(keyFor: (job: { custom_id: string; attempt: number; body_sha256: string }) => string): number {
    const now = Date.now();
    type Row = { idx: number; custom_id: string; attempt: number; body_sha256: string };
    return this.db.transaction(() => {
      let n = 0;
      // In pages: SQLite cannot update rows while a statement is still iterating over them, and
      // requeued rows drop out of the query, so each page starts from the top again.
      for (let page = this.w.retryable.all() as Row[]; page.length > 0; page = this.w.retryable.all() as Row[]) {
        for (const row of page) {
          const key = keyFor({ ...row, attempt: row.attempt + 1 });
          n += this.w.requeue.run({ idx: row.idx, attempt: row.attempt, key, now }).changes;
        }
      }
      return n;
    })();
  }

  counts(): StateCounts {
    const out = Object.fromEntries(Object.values(S).map((s) => [s, 0])) as StateCounts;
    for (const r of this.stmts.counts.all() as { state: JobState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  total(): number {
    return (this.stmts.total.get() as { n: number }).n;
  }

  counters(): Record<string, number> {
    return Object.fromEntries((this.stmts.counters.all() as { name: string; value: number }[]).map((r) => [r.name, r.value]));
  }

  oldestSubmitted(limit: number): JobRow[] {
    return this.stmts.oldestSubmitted.all(limit) as JobRow[];
  }

  /**
   * Every job in input order, a page at a time. Pages rather than one open iterator: a caller
   * awaits between rows (stream backpressure), and better-sqlite3 refuses any other statement on
   * the connection (the lease heartbeat) while an iterator is open.
   */
  *jobsInOrder(): Generator<JobRow> {
    for (let after = -1; ; ) {
      const page = this.stmts.jobsPage.all(after) as JobRow[];
      yield* page;
      if (page.length < 1000) return;
      after = page[page.length - 1]!.idx;
    }
  }

  /**
   * Takes the run lease, or throws CheckpointBusyError naming the holder. A lease whose
   * heartbeat is older than `staleMs` belongs to a process that died; it is taken over. So is
   * one held by a process of this machine that no longer exists, so that a rerun after a crash
   * does not have to wait out the heartbeat.
   */
  acquireLease(owner: string, staleMs: number): void {
    const now = Date.now();
    this.db
      .transaction(() => {
        const cur = this.stmts.getLease.get() as LeaseInfo | undefined;
        if (cur && cur.owner !== owner && now - cur.heartbeatMs < staleMs && !deadHere(cur)) {
          const ageS = Math.max(0, Math.round((now - cur.heartbeatMs) / 1000));
          throw new CheckpointBusyError(
            `${this.file}: checkpoint is in use by another run (pid ${cur.pid} on ${cur.host}, ` +
              `heartbeat ${ageS}s ago). Wait for it to finish, or use \`sailbatch status\` to watch it; ` +
              `if that process is gone, the lease becomes free ${Math.ceil(staleMs / 1000)}s after its last heartbeat.`,
          );
        }
        this.w.putLease.run({ owner, pid: process.pid, host: hostname(), now });
      })
      .immediate();
  }

  heartbeat(owner: string): boolean {
    return this.w.beat.run({ owner, now: Date.now() }).changes === 1;
  }

  releaseLease(owner: string): void {
    this.w.dropLease.run(owner);
  }

  lease(): LeaseInfo | undefined {
    return this.stmts.getLease.get() as LeaseInfo | undefined;
  }
}
