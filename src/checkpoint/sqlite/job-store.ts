import type Database from 'better-sqlite3';
import { StateTransitionError } from '../../errors.ts';
import { JOB_STATES, RETRYABLE_STATES, TERMINAL_STATES, sourcesOf, type JobState } from '../job-states.ts';
import type { JobRequest, JobRow, JobToPoll, JobToSend, JobUpdate, NewJob, ResultRow, RetryKeyInput } from '../store.ts';
import { TotalsDelta, type SqliteRunningTotals } from './running-totals.ts';

const S = JOB_STATES;

const inList = (states: readonly JobState[]) => states.map((s) => `'${s}'`).join(', ');

/**
 * A job loaded without its body's hash has it derived from the body's text (migration v8); SQLite
 * evaluates COALESCE's arguments only until one is not NULL, so a stored hash costs nothing.
 */
const BODY_SHA256 = 'COALESCE(body_sha256, body_hash(body))';

/**
 * A job loaded without its key has it derived (migration v7); the batch's namespace is read once
 * per statement. The key is NULL only at attempt 0, until the update that records its POST's
 * outcome stores the key the POST carried (SentKey); a requeue writes the next attempt's key.
 */
const KEY = `COALESCE(idempotency_key, attempt_key((SELECT namespace FROM batch), custom_id, attempt, ${BODY_SHA256})) AS idempotencyKey`;

/** Rows come out camelCase straight from SQL: no per-row mapping in JS. */
const ROW = `idx, line_no AS lineNo, custom_id AS customId, url, body, body_sha256 AS bodySha256,
  completion_window AS completionWindow, state, attempt, ${KEY},
  response_id AS responseId, api_status AS apiStatus, status_code AS statusCode, request_id AS requestId,
  result, error_code AS errorCode, error_message AS errorMessage, parsed, source_row AS sourceRow, model, sample,
  submitted_at_ms AS submittedAtMs,
  next_poll_at_ms AS nextPollAtMs, poll_count AS pollCount, finished_at_ms AS finishedAtMs, updated_at_ms AS updatedAtMs`;
const RESULT = `idx, line_no AS lineNo, custom_id AS customId, state, ${KEY}, status_code AS statusCode,
  request_id AS requestId, result, error_code AS errorCode, error_message AS errorMessage, parsed, source_row AS sourceRow, model, sample`;
const REQUEST = 'idx, state, url, body, completion_window AS completionWindow';
const WORK = 'idx, line_no AS lineNo, custom_id AS customId, url, completion_window AS completionWindow, state, attempt';
const TO_SEND = `${WORK}, body, ${KEY}`;
const TO_POLL = `${WORK}, body, response_id AS responseId, api_status AS apiStatus, submitted_at_ms AS submittedAtMs, poll_count AS pollCount`;

const ERROR_STATES = TERMINAL_STATES.filter((s) => s !== S.completed);

/** The first `@n` jobs in input order in any of `states`: at most n per state from `jobs_state`, never a sort of them all. */
const firstIn = (states: readonly JobState[]) =>
  `SELECT ${ROW} FROM jobs WHERE idx IN (
     ${states.map((s) => `SELECT idx FROM (SELECT idx FROM jobs WHERE state = '${s}' ORDER BY idx LIMIT @n)`).join(' UNION ALL ')}
   ) ORDER BY idx LIMIT @n`;

/*
 * Every query here is bounded by its LIMIT or served by an index: none reads a number of rows
 * that grows with the batch. Counts come from `job_counts` (see migration v4); the poll
 * queries are pinned to `jobs_due`, which the planner passed over for `jobs_state`.
 */
function readStatements(db: Database.Database) {
  return {
    byCustomId: db.prepare('SELECT line_no AS lineNo FROM jobs WHERE custom_id = ?'),
    getJob: db.prepare(`SELECT ${ROW} FROM jobs WHERE idx = ?`),
    page: db.prepare(`SELECT ${ROW} FROM jobs WHERE idx > ? ORDER BY idx LIMIT ?`),
    results: db.prepare(`SELECT ${RESULT} FROM jobs WHERE idx > ? ORDER BY idx LIMIT ?`),
    requests: db.prepare(`SELECT ${REQUEST} FROM jobs WHERE idx > ? ORDER BY idx LIMIT ?`),
    oldestSubmitted: db.prepare(
      `SELECT ${ROW} FROM jobs INDEXED BY jobs_out WHERE state = '${S.submitted}' ORDER BY submitted_at_ms LIMIT ?`,
    ),
    firstUnsuccessful: db.prepare(firstIn(ERROR_STATES)),
    nextDueAt: db.prepare(`SELECT MIN(next_poll_at_ms) AS t FROM jobs INDEXED BY jobs_due WHERE state = '${S.submitted}'`),
  };
}

/** What a requeue needs of a job: its next key's inputs, and what the running totals take off. */
const REQUEUE_COLUMNS = `idx, custom_id AS customId, attempt, ${BODY_SHA256} AS bodySha256, state, poll_count AS pollCount,
  submitted_at_ms IS NOT NULL AS background, result IS NOT NULL AS hasResult`;

/**
 * Rows per INSERT statement when loading: one statement of 50 rows costs SQLite and the driver
 * about 1.5 µs of CPU less per row than 50 statements (4.5 instead of 6 µs at a million rows),
 * and binds 750 parameters, far under SQLite's limit.
 */
const INSERT_ROWS = 50;

const insertRows = (n: number) =>
  `INSERT INTO jobs (idx, line_no, custom_id, url, body, body_sha256, completion_window, state, attempt,
     idempotency_key, error_code, error_message, source_row, model, sample, updated_at_ms)
   VALUES ${Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
   ON CONFLICT (custom_id) DO NOTHING`;

function writeStatements(db: Database.Database) {
  return {
    // Not the claimed ones (a JSON array of idx): they are being sent right now.
    holdForBudget: db.prepare(
      `UPDATE jobs SET state = '${S.not_sent_budget}', updated_at_ms = ? WHERE state = '${S.pending}' AND idx NOT IN (SELECT value FROM json_each(?))`,
    ),
    releaseBudgetHold: db.prepare(`UPDATE jobs SET state = '${S.pending}', updated_at_ms = ? WHERE state = '${S.not_sent_budget}'`),
    // Positional parameters: binding an argument list is cheaper than a named object per row.
    insert: db.prepare(insertRows(1)),
    insertPage: db.prepare(insertRows(INSERT_ROWS)),
    hasIdx: db.prepare('SELECT 1 FROM jobs WHERE idx = ?').pluck(),
    pendingAfter: db.prepare(`SELECT ${TO_SEND} FROM jobs WHERE state = '${S.pending}' AND idx > ? ORDER BY idx LIMIT ?`),
    // Only the ids, from the index alone: jobs this runner has claimed are skipped without reading their rows.
    dueIdx: db
      .prepare(
        `SELECT idx FROM jobs INDEXED BY jobs_due WHERE state = '${S.submitted}' AND next_poll_at_ms <= ?
         ORDER BY next_poll_at_ms LIMIT ?`,
      )
      .pluck(),
    toPoll: db.prepare(`SELECT ${TO_POLL} FROM jobs WHERE idx = ?`),
    submitted: db.prepare(
      `UPDATE jobs SET state = '${S.submitted}', response_id = @responseId, api_status = @apiStatus,
         request_id = @requestId, submitted_at_ms = @now, next_poll_at_ms = @nextPollAtMs, updated_at_ms = @now,
         idempotency_key = COALESCE(idempotency_key, @sentKey)
       WHERE idx = @idx AND attempt = @attempt AND state IN (${inList(sourcesOf(S.submitted))})`,
    ),
    polled: db.prepare(
      `UPDATE jobs SET api_status = @apiStatus, next_poll_at_ms = @nextPollAtMs, poll_count = poll_count + 1,
         updated_at_ms = @now
       WHERE idx = @idx AND attempt = @attempt AND state = '${S.submitted}'
       RETURNING poll_count AS pollCount`,
    ),
    postponed: db.prepare(
      `UPDATE jobs SET next_poll_at_ms = @nextPollAtMs, updated_at_ms = @now
       WHERE idx = @idx AND attempt = @attempt AND state = '${S.submitted}'`,
    ),
    retryable: db.prepare(`SELECT ${REQUEUE_COLUMNS} FROM jobs WHERE state IN (${inList(RETRYABLE_STATES)}) ORDER BY idx LIMIT 1000`),
    invalidOutputs: db.prepare(`SELECT ${REQUEUE_COLUMNS} FROM jobs WHERE state = '${S.invalid_output}' ORDER BY idx LIMIT 1000`),
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

/**
 * One statement per end state and per state it may be entered from, so that the running counts
 * know which state the job left without reading it first. A submitted job only ever finishes
 * through a GET (the poll that saw it end), which counts as a poll like the ones before it.
 */
type FinishFrom = { from: JobState; stmt: Database.Statement }[];

function finishStatements(db: Database.Database): Map<JobState, FinishFrom> {
  const out = new Map<JobState, FinishFrom>();
  for (const to of [S.completed, S.failed, S.incomplete, S.cancelled, S.expired, S.invalid_output] as const) {
    // Submitted first: background jobs, the common case, then match on the first try.
    const froms = sourcesOf(to).sort((a, b) => Number(b === S.submitted) - Number(a === S.submitted));
    out.set(
      to,
      froms.map((from) => ({
        from,
        stmt: db.prepare(
          `UPDATE jobs SET state = '${to}', response_id = COALESCE(@responseId, response_id),
             api_status = @apiStatus, status_code = @statusCode, request_id = COALESCE(@requestId, request_id),
             result = @result, parsed = @parsed, error_code = @errorCode, error_message = @errorMessage,
             next_poll_at_ms = NULL, poll_count = poll_count + ${from === S.submitted ? 1 : 0}, finished_at_ms = @now, updated_at_ms = @now,
             idempotency_key = COALESCE(idempotency_key, @sentKey)
           WHERE idx = @idx AND attempt = @attempt AND state = '${from}'
           RETURNING poll_count AS pollCount`,
        ),
      })),
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
  private readonly finish: Map<JobState, FinishFrom> | undefined;
  private readonly claimed = new Set<number>();
  private cursor = -1;

  constructor(
    db: Database.Database,
    readonly: boolean,
    private readonly totals: SqliteRunningTotals,
  ) {
    this.r = readStatements(db);
    if (!readonly) {
      this.wStmts = writeStatements(db);
      this.finish = finishStatements(db);
    }
  }

  private get w(): ReturnType<typeof writeStatements> {
    return this.wStmts!;
  }

  /** Returns the jobs whose custom_id was already taken. Counts what it inserted, in the caller's transaction. */
  insert(jobs: readonly NewJob[]): NewJob[] {
    const now = Date.now();
    const dupes: NewJob[] = [];
    const delta = new TotalsDelta();
    for (let from = 0; from < jobs.length; ) {
      const n = jobs.length - from >= INSERT_ROWS ? INSERT_ROWS : 1;
      const args: unknown[] = [];
      for (let k = from; k < from + n; k++) {
        const j = jobs[k]!;
        args.push(
          j.idx, j.lineNo, j.customId, j.url, j.body, j.bodySha256, j.completionWindow, j.state, j.idempotencyKey,
          j.errorCode ?? null, j.errorMessage ?? null, j.sourceRow ?? null, j.model ?? null, j.sample ?? null, now,
        );
      }
      const all = (n === INSERT_ROWS ? this.w.insertPage : this.w.insert).run(args).changes === n;
      for (let k = from; k < from + n; k++) {
        const j = jobs[k]!;
        // ON CONFLICT DO NOTHING skips a taken custom_id row by row: the rows it skipped are the ones not there.
        if (all || this.w.hasIdx.get(j.idx) !== undefined) delta.add(j.state, 1);
        else dupes.push(j);
      }
      from += n;
    }
    this.totals.write(delta);
    return dupes;
  }

  claimPending(limit: number): JobToSend[] {
    const out: JobToSend[] = [];
    while (out.length < limit) {
      const rows = this.w.pendingAfter.all(this.cursor, limit - out.length) as JobToSend[];
      if (rows.length === 0) break;
      this.cursor = rows[rows.length - 1]!.idx;
      // Behind a released job the cursor passes jobs that are claimed still: those are skipped.
      for (const row of rows) {
        if (this.claimed.has(row.idx)) continue;
        this.claimed.add(row.idx);
        out.push(row);
      }
    }
    return out;
  }

  claimDuePolls(nowMs: number, limit: number): JobToPoll[] {
    const rows: JobToPoll[] = [];
    if (limit <= 0) return rows;
    // Claimed jobs stay due until their update is applied; reading that many more ids keeps the page full.
    for (const idx of this.w.dueIdx.all(nowMs, limit + this.claimed.size) as number[]) {
      if (this.claimed.has(idx)) continue;
      this.claimed.add(idx);
      rows.push(this.w.toPoll.get(idx) as JobToPoll);
      if (rows.length >= limit) break;
    }
    return rows;
  }

  /** Gives claims back unwritten: a job still pending is handed out again, so the cursor goes back before it. */
  release(idxs: Iterable<number>): void {
    for (const idx of idxs) {
      if (this.claimed.delete(idx) && idx <= this.cursor) this.cursor = idx - 1;
    }
  }

  /** The claims of jobs whose update was applied: they have left the state they were claimed in. */
  endClaims(idxs: Iterable<number>): void {
    for (const idx of idxs) this.claimed.delete(idx);
  }

  /** pending → not_sent_budget (to true) or back (to false), for every such job not claimed; the caller owns the transaction. */
  holdForBudget(hold: boolean): number {
    const n = (hold ? this.w.holdForBudget.run(Date.now(), JSON.stringify([...this.claimed])) : this.w.releaseBudgetHold.run(Date.now())).changes;
    if (n > 0) {
      const delta = new TotalsDelta();
      delta.add(S.pending, hold ? -n : n);
      delta.add(S.not_sent_budget, hold ? n : -n);
      this.totals.write(delta);
      // Released jobs are pending again behind the cursor.
      if (!hold) this.cursor = -1;
    }
    return n;
  }

  pollNow(responseId: string): boolean {
    return this.w.pollNow.run({ responseId, now: Date.now() }).changes > 0;
  }

  nextPollAt(): number | null {
    return (this.r.nextDueAt.get() as { t: number | null }).t;
  }

  apply(updates: readonly JobUpdate[], now: number): void {
    const delta = new TotalsDelta();
    for (const u of updates) {
      let applied: boolean;
      if (u.kind === 'submitted') {
        applied = this.w.submitted.run({ ...u, sentKey: u.idempotencyKey ?? null, now }).changes === 1;
        if (applied) {
          delta.move(S.pending, S.submitted);
          delta.background++;
        }
      } else if (u.kind === 'polled') {
        const r = this.w.polled.get({ ...u, now }) as { pollCount: number } | undefined;
        applied = r !== undefined;
        if (r) {
          delta.polls++;
          delta.polled(r.pollCount);
        }
      } else if (u.kind === 'postponed') {
        applied = this.w.postponed.run({ ...u, now }).changes === 1;
      } else {
        applied = this.finished(u, now, delta);
      }
      if (!applied) throw StateTransitionError.refused(u, this.job(u.idx));
    }
    this.totals.write(delta);
  }

  private finished(u: Extract<JobUpdate, { kind: 'finished' }>, now: number, delta: TotalsDelta): boolean {
    const { kind: _k, state, ...params } = u;
    for (const { from, stmt } of this.finish!.get(state)!) {
      const r = stmt.get({ ...params, sentKey: u.idempotencyKey ?? null, now }) as { pollCount: number } | undefined;
      if (!r) continue;
      delta.move(from, state);
      if (from === S.submitted) delta.polls++;
      delta.polled(r.pollCount);
      delta.lastFinishedAtMs = now;
      delta.addTokens(u.tokens);
      return true;
    }
    return false;
  }

  requeueUnsuccessful(keyFor: (job: RetryKeyInput) => string): number {
    return this.requeue(this.w.retryable, keyFor);
  }

  requeueInvalidOutput(keyFor: (job: RetryKeyInput) => string): number {
    return this.requeue(this.w.invalidOutputs, keyFor);
  }

  private requeue(select: Database.Statement, keyFor: (job: RetryKeyInput) => string): number {
    type Retryable = RetryKeyInput & { state: JobState; pollCount: number; background: number; hasResult: number };
    const now = Date.now();
    let n = 0;
    // In pages: SQLite cannot update rows while a statement is still iterating over them, and
    // requeued rows drop out of the query, so each page starts from the top again.
    for (let page = select.all() as Retryable[]; page.length > 0; page = select.all() as Retryable[]) {
      const delta = new TotalsDelta();
      for (const row of page) if (row.hasResult) delta.usageRemoved.push(row.idx);
      const removed = this.totals.removeUsage(delta);
      for (const row of page) {
        const key = keyFor({ idx: row.idx, customId: row.customId, attempt: row.attempt + 1, bodySha256: row.bodySha256 });
        if (this.w.requeue.run({ idx: row.idx, attempt: row.attempt, key, now }).changes === 0) continue;
        n++;
        delta.move(row.state, S.pending);
        delta.polls -= row.pollCount;
        delta.background -= row.background;
      }
      this.totals.write(delta, removed);
    }
    // Requeued jobs are pending again behind the cursor: hand out from the start once more.
    if (n > 0) this.cursor = -1;
    return n;
  }

  job(idx: number): JobRow | undefined {
    return this.r.getJob.get(idx) as JobRow | undefined;
  }

  page(afterIdx: number, limit: number): JobRow[] {
    return this.r.page.all(afterIdx, limit) as JobRow[];
  }

  resultsPage(afterIdx: number, limit: number): ResultRow[] {
    return this.r.results.all(afterIdx, limit) as ResultRow[];
  }

  requestsPage(afterIdx: number, limit: number): JobRequest[] {
    return this.r.requests.all(afterIdx, limit) as JobRequest[];
  }

  lineOfCustomId(customId: string): number | undefined {
    return (this.r.byCustomId.get(customId) as { lineNo: number } | undefined)?.lineNo;
  }

  oldestSubmitted(limit: number): JobRow[] {
    return this.r.oldestSubmitted.all(limit) as JobRow[];
  }

  firstUnsuccessful(limit: number): JobRow[] {
    return this.r.firstUnsuccessful.all({ n: limit }) as JobRow[];
  }
}
