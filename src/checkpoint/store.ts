import type { JOB_STATES, JobState } from './job-states.ts';

import type { CheckpointSummary, ModelFigures, TokenUsage } from './summary.ts';

/**
 * The store: the one place where a batch's state lives, behind one narrow interface. The
 * engine, `status`, `export`, `retry` and the output writer use only this; SQL, driver types and
 * connection handles stay inside the implementations (`sqlite/`, the embedded default with a
 * one-runner lease, and `postgres/`, where many workers drain one batch through claims).
 *
 * Every method is async because the PostgreSQL store is; the engine awaits once per page of
 * work or of updates, never once per line. Rows are camelCase and carry only the columns their
 * reader needs.
 *
 * Work is handed out as claims in pages. `claimPending` and `claimDuePolls` return at most
 * `limit` jobs, each claimed by the owner that joined with `acquireLease`; a claimed job is not
 * handed out again (to anyone) until `apply` writes an update for it or `release` gives it
 * back. SQLite's lease admits one runner, so there a claim is a bounded select plus an
 * in-memory mark; PostgreSQL marks the rows (`FOR UPDATE SKIP LOCKED`, an owner and an expiry
 * that `heartbeat` extends), so that a dead worker's claims return to the pool.
 */

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

/** Everything stored about one job: what `status`, `export` and the writer read. */
export interface JobRow {
  idx: number;
  lineNo: number;
  customId: string | null;
  url: string;
  body: string | null;
  /** As stored: a job loaded without it (see NewJob) has it derived where it is needed, its key and a requeue. */
  bodySha256: string | null;
  completionWindow: string | null;
  state: JobState;
  attempt: number;
  idempotencyKey: string | null;
  responseId: string | null;
  apiStatus: string | null;
  statusCode: number | null;
  requestId: string | null;
  /** The final response object (or error body) as JSON text. */
  result: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** The answer's parsed JSON text, when the request asked for a schema and the answer follows it. */
  parsed: string | null;
  /** The data row a templated request was made from (JSON object text). */
  sourceRow: string | null;
  /** The request's model. */
  model: string | null;
  /** Fan-out sample number (1-based), when --samples asked for more than one. */
  sample: number | null;
  submittedAtMs: number | null;
  nextPollAtMs: number | null;
  pollCount: number;
  finishedAtMs: number | null;
  updatedAtMs: number;
}

/** What a results line is made of, in JSONL or CSV: no request body, no schedule. */
export type ResultRow = Pick<
  JobRow,
  'idx' | 'lineNo' | 'customId' | 'state' | 'idempotencyKey' | 'statusCode' | 'requestId' | 'result' | 'errorCode' | 'errorMessage' | 'parsed' | 'sourceRow' | 'model' | 'sample'
>;

/** The columns the engine needs of any job it works on. */
export interface WorkJob {
  idx: number;
  lineNo: number;
  customId: string | null;
  url: string;
  completionWindow: string | null;
  state: JobState;
  attempt: number;
}

/** A claimed pending job: what a POST needs. */
export interface JobToSend extends WorkJob {
  state: typeof JOB_STATES.pending;
  body: string;
  idempotencyKey: string;
}

/** A claimed submitted job whose poll is due: what a GET and its schedule need. */
export interface JobToPoll extends WorkJob {
  state: typeof JOB_STATES.submitted;
  /** The stored request: its answer is checked against the schema it asks for, if any. */
  body: string;
  responseId: string;
  apiStatus: string | null;
  submittedAtMs: number;
  pollCount: number;
}

/**
 * A job as the loader stores it: its request and identity; what happens to it starts empty. A
 * pending job may come without its body's hash and its idempotency key: the store then gives it
 * the key of its first attempt, derived from the batch's namespace, the custom_id and the hash
 * of the body's text, which every read of the job returns (derived when the job is read, or
 * stored when it is inserted). At a million lines, hashing each body and key while loading took
 * about a third of the validation pass.
 */
export interface NewJob
  extends Pick<JobRow, 'idx' | 'lineNo' | 'customId' | 'url' | 'body' | 'bodySha256' | 'completionWindow' | 'idempotencyKey'> {
  state: typeof JOB_STATES.pending | typeof JOB_STATES.invalid;
  errorCode?: string | undefined;
  errorMessage?: string | undefined;
  sourceRow?: string | null | undefined;
  model?: string | null | undefined;
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
      /** The key the POST carried (see SentKey). */
      idempotencyKey?: string | undefined;
    }
  | {
      kind: 'polled';
      idx: number;
      attempt: number;
      apiStatus: string | null;
      nextPollAtMs: number;
    }
  | {
      /** A poll moved later without a GET (PollSchedule.postponedFirstPoll): not a poll, so no count and no new status. */
      kind: 'postponed';
      idx: number;
      attempt: number;
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
      /** What `result` reports under `usage` (cost/usage.ts resultTokens): counted without reading the result back. */
      tokens: TokenUsage;
      /** The answer's parsed JSON text, when the request asked for a schema and the answer follows it. */
      parsed: string | null;
      errorCode: string | null;
      errorMessage: string | null;
      /** The key the POST carried, when this update ends a job that was sent (see SentKey). */
      idempotencyKey?: string | undefined;
    };

/**
 * The key a POST carried goes with the update that records its outcome: a store that derives the
 * key of a job loaded without one (see NewJob) keeps it then, so that the output's ids are not
 * derived a second time. A store that stored the key at the insert may ignore it.
 */
export type SentKey = Extract<JobUpdate, { kind: 'submitted' | 'finished' }>['idempotencyKey'];

/** An update of a job's schedule while it is out at the server: it names no response or request id of its own. */
export function isScheduleUpdate(u: JobUpdate): u is Extract<JobUpdate, { kind: 'polled' | 'postponed' }> {
  return u.kind === 'polled' || u.kind === 'postponed';
}

/** A job's request and where it stands: what an estimate of its cost reads. */
export type JobRequest = Pick<JobRow, 'idx' | 'state' | 'url' | 'body' | 'completionWindow'>;

/** What `retry` needs to derive a job's next idempotency key. */
export interface RetryKeyInput {
  idx: number;
  customId: string;
  /** The attempt the new key is for (the old one + 1). */
  attempt: number;
  bodySha256: string;
}

export interface LeaseInfo {
  owner: string;
  pid: number;
  host: string;
  heartbeatMs: number;
  /** When the holder's process started (Linux), so a reused pid is not taken for it. */
  pidStarted?: string | null;
}

export type StateCounts = Record<JobState, number>;

/**
 * Counters a run sets rather than adds to (`apply`'s `gauges`); `counters()` reads them with the
 * others. `throttleLimit`: the limit 429s hold the run's requests in flight to, 0 when they do
 * not, so that `status` in another process can say why a run slowed down (it shows the figure
 * only while the run is live; with several PostgreSQL workers, the last one to write it).
 */
export const RUN_GAUGES = { throttleLimit: 'throttle_limit' } as const;
/** Counters of --output-retries: rounds done (a resumed run goes on from there) and answers asked again. */
export const OUTPUT_RETRY_COUNTERS = { rounds: 'output_retry_rounds', jobs: 'output_retries' } as const;
/** Token usage of the stored results of one model (as sent) in one completion window: what actual cost is priced from. */
export interface ModelUsage {
  model: string;
  completionWindow: string | null;
  tokens: TokenUsage;
}

/** Requests still to send (pending, or held back by the spending cap) of one endpoint × model × window. */
export interface WorkToSend {
  url: string;
  model: string;
  completionWindow: string | null;
  jobs: number;
  /** Jobs whose request sets no output-token cap. */
  uncapped: number;
}

/** Everything that only reads: what `status` and `export` use, also inside `snapshot`. */
export interface StoreReader {
  /** Where the store lives, for messages: a file path, or a URL without its password. */
  readonly location: string;
  batch(): Promise<BatchMeta | undefined>;
  job(idx: number): Promise<JobRow | undefined>;
  /** The input line that holds `customId`, for duplicate-id messages. */
  lineOfCustomId(customId: string): Promise<number | undefined>;
  /** Jobs in input order after `afterIdx`, at most `limit`, every column. */
  jobsPage(afterIdx: number, limit: number): Promise<JobRow[]>;
  /** As jobsPage, with only what a results line is made of: how the writer and export page through results. */
  resultsPage(afterIdx: number, limit: number): Promise<ResultRow[]>;
  /** As jobsPage, with only each job's request and state: how spend estimates page through a batch, without deriving a key per job. */
  requestsPage(afterIdx: number, limit: number): Promise<JobRequest[]>;
  counts(): Promise<StateCounts>;
  total(): Promise<number>;
  /** Request counters over every run of the batch (posts, gets, retries, ...). */
  counters(): Promise<Record<string, number>>;
  /** Counts, tokens, requests and polls, all from one snapshot. */
  summary(): Promise<CheckpointSummary>;
  /** Jobs per state and tokens, per model (the figures of an eval fan-out). */
  perModel(): Promise<Record<string, ModelFigures>>;
  /** Submitted jobs, longest out first. */
  oldestSubmitted(limit: number): Promise<JobRow[]>;
  /** The first jobs in input order that ended other than completed. */
  firstUnsuccessful(limit: number): Promise<JobRow[]>;
  /** Usage of every stored result, per model and completion window (actual cost). */
  usageByModel(): Promise<ModelUsage[]>;
  /** What is still to send, per endpoint × model × window (pre-flight models, --max-cost checks). */
  workToSend(): Promise<WorkToSend[]>;
  /** The process holding the run lease (SQLite) or the last to join (PostgreSQL), if any. */
  lease(): Promise<LeaseInfo | undefined>;
}

export interface BatchStore extends StoreReader {
  readonly readonly: boolean;
  /** Present where several workers share the batch's request budget. */
  readonly budget?: SharedBudget | undefined;

  /**
   * Creates the batch. False when it already existed: another `run` of the same input created
   * it a moment earlier (PostgreSQL: one database holds many batches, told apart by input digest
   * and namespace); this store then works on that batch and the caller joins it as a worker.
   */
  createBatch(meta: Omit<BatchMeta, 'loadedAtMs'>): Promise<boolean>;
  /** The load finished: records the input's final size and digest. */
  markLoaded(inputBytes: number, inputSha256: string): Promise<void>;
  /** Inserts a page of jobs in one transaction; returns the ones whose customId was already taken. */
  insertJobs(jobs: readonly NewJob[]): Promise<NewJob[]>;

  /** Up to `limit` pending jobs in input order, claimed for this run's owner. */
  claimPending(limit: number): Promise<JobToSend[]>;
  // Fewer than `limit` does not mean that no pending job is left: other workers may hold claims
  // that return to the pool when they expire. The batch is done when `counts()` shows no job
  // pending or submitted.
  /** Up to `limit` submitted jobs whose poll is due at `nowMs`, soonest first, claimed for this run's owner. */
  claimDuePolls(nowMs: number, limit: number): Promise<JobToPoll[]>;
  /** Gives claims back without an update (a request aborted at a stop). */
  release(idxs: readonly number[]): Promise<void>;
  /** When the soonest poll of any submitted job is due, or null when none is out at the server. */
  nextPollAt(): Promise<number | null>;
  /** Makes a submitted job's poll due now (a completion webhook named it); false if none matched. */
  pollNow(responseId: string): Promise<boolean>;
  /**
   * Applies a page of updates, counter increments and gauge values (RUN_GAUGES) in one transaction, and ends the claims of
   * the jobs it updates. Each update is guarded by the states its job may leave and by its
   * attempt; one that matches no row throws StateTransitionError and nothing is written.
   * PostgreSQL guards each update by its claim as well: an update whose claim another worker took
   * over (this one was paused past the expiry) is dropped, never written over the other's work,
   * and its job is returned in `lost` so that the caller forgets it. SQLite's one runner never
   * loses a claim: `lost` is always empty there.
   */
  apply(updates: readonly JobUpdate[], counters?: Readonly<Record<string, number>>, gauges?: Readonly<Record<string, number>>): Promise<LostClaims>;
  /**
   * Moves every job that ended unsuccessfully back to pending with attempt + 1. `keyFor` gives
   * the new attempt's idempotency key; it is stored before anything is sent.
   */
  requeueUnsuccessful(keyFor: (job: RetryKeyInput) => string): Promise<number>;
  /**
   * One round of --output-retries: as requeueUnsuccessful, for the jobs in `invalid_output`
   * only. The round and the jobs it sends again are added to OUTPUT_RETRY_COUNTERS in the same
   * transaction, so that a crash cannot resend without counting.
   */
  requeueInvalidOutput(keyFor: (job: RetryKeyInput) => string): Promise<number>;

  /** pending → not_sent_budget for every job still pending: the spending cap stopped the run before them. */
  holdForBudget(): Promise<number>;
  /** not_sent_budget → pending, same attempt and key: a new run goes on with them. */
  releaseBudgetHold(): Promise<number>;

  /** Runs `read` on one consistent snapshot, while runs go on writing. */
  snapshot<T>(read: (reader: StoreReader) => Promise<T>): Promise<T>;

  /**
   * Joins the batch as `owner`. SQLite: takes the one-runner lease, or throws
   * CheckpointBusyError naming the holder (a lease whose heartbeat is older than `staleMs`, or
   * whose process on this machine is gone, is taken over). PostgreSQL: registers a worker.
   */
  acquireLease(owner: string, staleMs: number): Promise<void>;
  /** Renews the owner's lease and claims; false when another process has taken them over. */
  heartbeat(owner: string): Promise<boolean>;
  releaseLease(owner: string): Promise<void>;

  /** Whether the server ever accepted a job of this batch (under the batch's API key). */
  anyAccepted(): Promise<boolean>;
  /**
   * Whether the batch's API key may be replaced: only if the old one can have bought nothing.
   * No run ever started sending, or the last was refused for its key (401/403) with nothing
   * accepted. "Nothing accepted" alone is not enough: a POST in flight at a crash is not here.
   */
  mayChangeKey(): Promise<boolean>;
  changeKey(salt: string, fingerprint: string): Promise<void>;
  /** Recorded before a run sends anything: from now on the key may have bought something. */
  noteSendingRun(): Promise<void>;
  /** The run stopped because the server refused the key; if nothing was accepted, it bought nothing. */
  noteKeyRejected(): Promise<void>;

  /** Removes the batch and everything in it, and closes the store (a load that never finished). */
  destroy(): Promise<void>;
  close(): Promise<void>;
}

/** This worker's part of the batch's request budget, as `SharedBudget.renew` last gave it. */
export interface BudgetShare {
  /** Requests this worker may have in flight now (0 until the others leave it room). */
  concurrency: number;
  /** Requests per second this worker may send; 0 for no cap. */
  maxPerSecond: number;
  /** No worker sends before this time (a 429 seen by any of them). */
  pausedUntilMs: number;
  /** 429 waves the fleet has seen so far: a rise means another worker was rate limited. */
  rateLimits: number;
}

/**
 * The batch's --concurrency and --max-rps, shared by the workers that drain it together
 * (PostgreSQL). Only the store knows who else is working; a store where one process runs the
 * batch has no `budget` and the process keeps the whole of it.
 */
export interface SharedBudget {
  /**
   * Renews this worker's share and says what the fleet saw. `holding` is the most it may have
   * out until the new share applies (what it has out now, or its current allowance if more):
   * its share never counts for less than that, so the sum over live workers stays within the
   * batch's concurrency while shares move between them.
   */
  renew(owner: string, holding: number): Promise<BudgetShare>;
  /** A 429 reached this worker: every worker pauses until `untilMs` and cuts its share (Throttle). */
  rateLimited(untilMs: number): Promise<void>;
}

/** Jobs whose update did not land because another worker holds their claim now. */
export interface LostClaims {
  lost: number[];
}

export interface OpenStoreOptions {
  /** Only reads (status, export): never migrates, never writes. @default false */
  readonly?: boolean;
  /**
   * Which batch of a PostgreSQL database: its id (`worker`, `status`, `export`), or the input it
   * was made from (`run`: the batch of this input and namespace if one exists, else none until
   * createBatch). A SQLite checkpoint holds one batch and ignores this.
   */
  batch?: { id: number } | { inputSha256: string; namespace: string };
}
