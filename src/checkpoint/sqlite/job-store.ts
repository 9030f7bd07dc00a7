import type Database from 'better-sqlite3';
import { StateTransitionError } from '../../errors.ts';
import { JOB_STATES, RETRYABLE_STATES, TERMINAL_STATES, sourcesOf, type JobState } from '../job-states.ts';
import type { JobRow, JobToPoll, JobToSend, JobUpdate, NewJob, RetryKeyInput, StateCounts } from '../store.ts';

const S = JOB_STATES;

const inList = (states: readonly JobState[]) => states.map((s) => `'${s}'`).join(', ');

/** Rows come out camelCase straight from SQL: no per-row mapping in JS. */
const ROW = `idx, line_no AS lineNo, custom_id AS customId, url, body, body_sha256 AS bodySha256,
  completion_window AS completionWindow, state, attempt, idempotency_key AS idempotencyKey,
  response_id AS responseId, api_status AS apiStatus, status_code AS statusCode, request_id AS requestId,
  result, error_code AS errorCode, error_message AS errorMessage, parsed, source_row AS sourceRow, model, sample,
  submitted_at_ms AS submittedAtMs,
  next_poll_at_ms AS nextPollAtMs, poll_count AS pollCount, finished_at_ms AS finishedAtMs, updated_at_ms AS updatedAtMs`;
const WORK = 'idx, line_no AS lineNo, custom_id AS customId, url, completion_window AS completionWindow, state, attempt';
const TO_SEND = `${WORK}, body, idempotency_key AS idempotencyKey`;
const TO_POLL = `${WORK}, body, response_id AS responseId, api_status AS apiStatus, submitted_at_ms AS submittedAtMs, poll_count AS pollCount`;

const ERROR_STATES = TERMINAL_STATES.filter((s) => s !== S.completed);

function readStatements(db: Database.Database) {
  return {
    counts: db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state'),
    total: db.prepare('SELECT COUNT(*) AS n FROM jobs'),
    byCustomId: db.prepare('SELECT line_no AS lineNo FROM jobs WHERE custom_id = ?'),
    getJob: db.prepare(`SELECT ${ROW} FROM jobs WHERE idx = ?`),
    page: db.prepare(`SELECT ${ROW} FROM jobs WHERE idx > ? ORDER BY idx LIMIT ?`),
    oldestSubmitted: db.prepare(`SELECT ${ROW} FROM jobs WHERE state = '${S.submitted}' ORDER BY submitted_at_ms LIMIT ?`),
    firstUnsuccessful: db.prepare(`SELECT ${ROW} FROM jobs WHERE state IN (${inList(ERROR_STATES)}) ORDER BY idx LIMIT ?`),
    nextDueAt: db.prepare(`SELECT MIN(next_poll_at_ms) AS t FROM jobs WHERE state = '${S.submitted}'`),
    anyAccepted: db.prepare(`SELECT 1 FROM jobs WHERE state NOT IN ('${S.pending}', '${S.invalid}') LIMIT 1`),
  };
}

function writeStatements(db: Database.Database) {
  return {
    insert: db.prepare(
      `INSERT INTO jobs (idx, line_no, custom_id, url, body, body_sha256, completion_window, state, attempt,
         idempotency_key, error_code, error_message, source_row, model, sample, updated_at_ms)
       VALUES (@idx, @lineNo, @customId, @url, @body, @bodySha256, @completionWindow, @state, 0,
         @idempotencyKey, @errorCode, @errorMessage, @sourceRow, @model, @sample, @now)
       ON CONFLICT (custom_id) DO NOTHING`,
    ),
    pendingAfter: db.prepare(`SELECT ${TO_SEND} FROM jobs WHERE state = '${S.pending}' AND idx > ? ORDER BY idx LIMIT ?`),
    due: db.prepare(
      `SELECT ${TO_POLL} FROM jobs WHERE state = '${S.submitted}' AND next_poll_at_ms <= ? ORDER BY next_poll_at_ms LIMIT ?`,
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
      `SELECT idx, custom_id AS customId, attempt, body_sha256 AS bodySha256 FROM jobs
       WHERE state IN (${inList(RETRYABLE_STATES)}) ORDER BY idx LIMIT 1000`,
    ),
    requeue: db.prepare(
      `UPDATE jobs SET state = '${S.pending}', attempt = attempt + 1, idempotency_key = @key,
         response_id = NULL, api_status = NULL, status_code = NULL, request_id = NULL, result = NULL, parsed = NULL,
         error_code = NULL, error_message = NULL, submitted_at_ms = NULL, next_poll_at_ms = NULL,
         poll_count = 0, finished_at_ms = NULL, updated_at_ms = @now
       WHERE idx = @idx AND attempt = @attempt AND state IN (${inList(sourcesOf(S.pending))})`,
    ),
    pollNow: db.prepare(`UPDATE jobs SET next_poll_at_ms = @now WHERE response_id = @responseId AND state = '${S.submitted}'`),
  };
}

/** A submitted job only ever finishes through a GET (the poll that saw it end), which counts as a
 * poll like the ones before it; `state` in SET is the row's old state. */
function finishStatements(db: Database.Database): Map<JobState, Database.Statement> {
  const out = new Map<JobState, Database.Statement>();
  for (const to of [S.completed, S.failed, S.incomplete, S.cancelled, S.expired, S.invalid_output] as const) {
    out.set(
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
  return out;
}

/**
 * The jobs table: every statement prepared once; every state change guarded in SQL by the states
 * it may leave (from TRANSITIONS) and by the attempt, and a guard that touches no row is an
 * error, not a silent no-op. Callers own the transactions.
 *
 * Claims are kept in memory: the lease admits one runner per file, so no other process can
 * take a job this one holds, and a crash leaves nothing in the file to undo. Pending jobs are
 * handed out in input order from a cursor; a due poll is skipped while its job is claimed.
 */
export class SqliteJobStore {
  private readonly r;
  private readonly wStmts: ReturnType<typeof writeStatements> | undefined;
  private readonly finish: Map<JobState, Database.Statement> | undefined;
  private readonly claimed = new Set<number>();
  private cursor = -1;

  constructor(db: Database.Database, readonly: boolean) {
    this.r = readStatements(db);
    if (!readonly) {
      this.wStmts = writeStatements(db);
      this.finish = finishStatements(db);
    }
  }

  private get w(): ReturnType<typeof writeStatements> {
    return this.wStmts!;
  }

  /** Returns the jobs whose custom_id was already taken. */
  insert(jobs: readonly NewJob[]): NewJob[] {
    const now = Date.now();
    const dupes: NewJob[] = [];
    for (const job of jobs) {
      const res = this.w.insert.run({ errorCode: null, errorMessage: null, sourceRow: null, model: null, sample: null, ...job, now });
      if (res.changes === 0) dupes.push(job);
    }
    return dupes;
  }

  claimPending(limit: number): JobToSend[] {
    const rows = this.w.pendingAfter.all(this.cursor, limit) as JobToSend[];
    for (const row of rows) this.claimed.add(row.idx);
    if (rows.length > 0) this.cursor = rows[rows.length - 1]!.idx;
    return rows;
  }

  claimDuePolls(nowMs: number, limit: number): JobToPoll[] {
    const rows: JobToPoll[] = [];
    if (limit <= 0) return rows;
    // Claimed jobs stay due until their update is applied; reading that many more keeps the page full.
    for (const row of this.w.due.all(nowMs, limit + this.claimed.size) as JobToPoll[]) {
      if (rows.length >= limit) break;
      if (this.claimed.has(row.idx)) continue;
      this.claimed.add(row.idx);
      rows.push(row);
    }
    return rows;
  }

  release(idxs: Iterable<number>): void {
    for (const idx of idxs) this.claimed.delete(idx);
  }

  pollNow(responseId: string): boolean {
    return this.w.pollNow.run({ responseId, now: Date.now() }).changes > 0;
  }

  nextPollAt(): number | null {
    return (this.r.nextDueAt.get() as { t: number | null }).t;
  }

  apply(updates: readonly JobUpdate[], now: number): void {
    for (const u of updates) {
      let changes: number;
      if (u.kind === 'submitted') changes = this.w.submitted.run({ ...u, now }).changes;
      else if (u.kind === 'polled') changes = this.w.polled.run({ ...u, now }).changes;
      else {
        const { kind: _k, state, ...rest } = u;
        changes = this.finish!.get(state)!.run({ ...rest, now }).changes;
      }
      if (changes !== 1) {
        const row = this.job(u.idx);
        throw new StateTransitionError(
          `job ${u.idx} (line ${row?.lineNo}): cannot apply "${u.kind}" for attempt ${u.attempt}; ` +
            `it is ${row?.state} at attempt ${row?.attempt}. Another process may be writing this checkpoint.`,
        );
      }
    }
  }

  requeueUnsuccessful(keyFor: (job: RetryKeyInput) => string): number {
    const now = Date.now();
    let n = 0;
    // In pages: SQLite cannot update rows while a statement is still iterating over them, and
    // requeued rows drop out of the query, so each page starts from the top again.
    for (let page = this.w.retryable.all() as RetryKeyInput[]; page.length > 0; page = this.w.retryable.all() as RetryKeyInput[]) {
      for (const row of page) {
        const key = keyFor({ ...row, attempt: row.attempt + 1 });
        n += this.w.requeue.run({ idx: row.idx, attempt: row.attempt, key, now }).changes;
      }
    }
    return n;
  }

  job(idx: number): JobRow | undefined {
    return this.r.getJob.get(idx) as JobRow | undefined;
  }

  page(afterIdx: number, limit: number): JobRow[] {
    return this.r.page.all(afterIdx, limit) as JobRow[];
  }

  lineOfCustomId(customId: string): number | undefined {
    return (this.r.byCustomId.get(customId) as { lineNo: number } | undefined)?.lineNo;
  }

  counts(): StateCounts {
    const out = Object.fromEntries(Object.values(S).map((s) => [s, 0])) as StateCounts;
    for (const r of this.r.counts.all() as { state: JobState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  total(): number {
    return (this.r.total.get() as { n: number }).n;
  }

  oldestSubmitted(limit: number): JobRow[] {
    return this.r.oldestSubmitted.all(limit) as JobRow[];
  }

  firstUnsuccessful(limit: number): JobRow[] {
    return this.r.firstUnsuccessful.all(limit) as JobRow[];
  }

  anyAccepted(): boolean {
    return this.r.anyAccepted.get() !== undefined;
  }
}
