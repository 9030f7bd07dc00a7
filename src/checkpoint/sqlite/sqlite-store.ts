import type Database from 'better-sqlite3';
import { rm } from 'node:fs/promises';
import { CheckpointError } from '../../errors.ts';
import {
  OUTPUT_RETRY_COUNTERS,
  type BatchMeta,
  type BatchStore,
  type JobRequest,
  type JobRow,
  type JobToPoll,
  type JobToSend,
  type JobUpdate,
  type LeaseInfo,
  type LostClaims,
  type NewJob,
  type ResultRow,
  type RetryKeyInput,
  type StateCounts,
  type StoreReader,
  type ModelUsage,
  type WorkToSend,
} from '../store.ts';
import { toSummary, type CheckpointSummary, type ModelFigures } from '../summary.ts';
import { SqliteBatchRecord } from './batch-record.ts';
import { storageError, withStorageErrors } from './storage-errors.ts';
import { deferSyncs, openDatabase, restoreSyncs } from './connection.ts';
import { SqliteJobStore } from './job-store.ts';
import { SqliteKeyBookkeeping } from './key-bookkeeping.ts';
import { SqliteLease } from './lease.ts';
import { SqliteModelFigures } from './model-figures.ts';
import { SqliteRunningTotals } from './running-totals.ts';
import { SqliteSpendQueries } from './spend-queries.ts';

const NO_LOSSES: LostClaims = Object.freeze({ lost: [] as number[] });

/**
 * The embedded store: one SQLite file per batch, one runner at a time (the lease). better-sqlite3
 * is synchronous, so each method does its work at once and returns a settled promise; the
 * interface is async for the PostgreSQL store's sake.
 * @internal
 */
export class SqliteStore implements BatchStore {
  private readonly db: Database.Database;
  private readonly jobs: SqliteJobStore;
  private readonly batchRecord: SqliteBatchRecord;
  private readonly leaseRow: SqliteLease;
  private readonly keys: SqliteKeyBookkeeping;
  private readonly totals: SqliteRunningTotals;
  private readonly models: SqliteModelFigures;
  private readonly spend: SqliteSpendQueries;
  private readonly insertTx: (jobs: readonly NewJob[]) => NewJob[];
  private readonly applyTx: (updates: readonly JobUpdate[], counters: Readonly<Record<string, number>>, gauges: Readonly<Record<string, number>>, now: number) => void;

  private constructor(
    readonly location: string,
    readonly readonly: boolean,
  ) {
    this.db = openDatabase(location, readonly);
    this.totals = new SqliteRunningTotals(this.db);
    this.jobs = new SqliteJobStore(this.db, readonly, this.totals);
    this.batchRecord = new SqliteBatchRecord(this.db, readonly);
    this.leaseRow = new SqliteLease(this.db, location, readonly);
    this.keys = new SqliteKeyBookkeeping(this.db, this.batchRecord, this.totals);
    this.models = new SqliteModelFigures(this.db);
    this.spend = new SqliteSpendQueries(this.db);
    // Made once: a transaction function made per call costs the hot path an allocation each time.
    this.insertTx = this.db.transaction((jobs: readonly NewJob[]) => this.jobs.insert(jobs));
    this.applyTx = this.db.transaction(
      (updates: readonly JobUpdate[], counters: Readonly<Record<string, number>>, gauges: Readonly<Record<string, number>>, now: number) => {
        this.jobs.apply(updates, now);
        this.batchRecord.bump(counters);
        this.batchRecord.set(gauges);
      },
    );
  }

  static open(file: string, options: { readonly?: boolean } = {}): SqliteStore {
    try {
      return withStorageErrors(new SqliteStore(file, options.readonly ?? false), file);
    } catch (e) {
      throw storageError(e, file);
    }
  }

  /** Every write goes through here, so a read-only store refuses it with one message. */
  private writable(): void {
    if (this.readonly) throw new CheckpointError(`${this.location}: opened read-only`);
  }

  private async write<T>(fn: () => T): Promise<T> {
    this.writable();
    return fn();
  }

  async batch(): Promise<BatchMeta | undefined> {
    return this.batchRecord.meta();
  }

  /** Always true: a SQLite checkpoint holds one batch, and the lease admits one run to create it. Its load follows, with syncs deferred. */
  createBatch(meta: Omit<BatchMeta, 'loadedAtMs'>): Promise<boolean> {
    return this.write(() => {
      this.batchRecord.create(meta);
      deferSyncs(this.db);
      return true;
    });
  }

  /**
   * The load is on disk before the batch says it is loaded, and so before anything is sent. The
   * write before the sync is the input's hash, which a SQLite batch is created without (the runner
   * hashes the file while loading it).
   */
  async markLoaded(inputBytes: number, inputSha256: string): Promise<void> {
    this.writable();
    await restoreSyncs(this.db, this.location, () => this.batchRecord.recordInput(inputBytes, inputSha256));
    this.batchRecord.markLoaded();
  }

  insertJobs(jobs: readonly NewJob[]): Promise<NewJob[]> {
    return this.write(() => this.insertTx(jobs));
  }

  async job(idx: number): Promise<JobRow | undefined> {
    return this.jobs.job(idx);
  }

  async lineOfCustomId(customId: string): Promise<number | undefined> {
    return this.jobs.lineOfCustomId(customId);
  }

  async jobsPage(afterIdx: number, limit: number): Promise<JobRow[]> {
    return this.jobs.page(afterIdx, limit);
  }

  async resultsPage(afterIdx: number, limit: number): Promise<ResultRow[]> {
    return this.jobs.resultsPage(afterIdx, limit);
  }

  async requestsPage(afterIdx: number, limit: number): Promise<JobRequest[]> {
    return this.jobs.requestsPage(afterIdx, limit);
  }

  claimPending(limit: number): Promise<JobToSend[]> {
    return this.write(() => this.jobs.claimPending(limit));
  }

  claimDuePolls(nowMs: number, limit: number): Promise<JobToPoll[]> {
    return this.write(() => this.jobs.claimDuePolls(nowMs, limit));
  }

  async release(idxs: readonly number[]): Promise<void> {
    this.jobs.release(idxs);
  }

  async nextPollAt(): Promise<number | null> {
    return this.jobs.nextPollAt();
  }

  pollNow(responseId: string): Promise<boolean> {
    return this.write(() => this.jobs.pollNow(responseId));
  }

  /** The one runner never loses a claim, so `lost` is always empty. */
  apply(updates: readonly JobUpdate[], counters: Readonly<Record<string, number>> = {}, gauges: Readonly<Record<string, number>> = {}): Promise<LostClaims> {
    return this.write(() => {
      if (updates.length === 0 && !Object.values(counters).some((n) => n !== 0) && Object.keys(gauges).length === 0) return NO_LOSSES;
      this.applyTx(updates, counters, gauges, Date.now());
      this.jobs.endClaims(updates.map((u) => u.idx));
      return NO_LOSSES;
    });
  }

  requeueUnsuccessful(keyFor: (job: RetryKeyInput) => string): Promise<number> {
    return this.write(() => this.db.transaction(() => this.jobs.requeueUnsuccessful(keyFor))());
  }

  requeueInvalidOutput(keyFor: (job: RetryKeyInput) => string): Promise<number> {
    return this.write(() =>
      this.db.transaction(() => {
        const n = this.jobs.requeueInvalidOutput(keyFor);
        this.batchRecord.bump({ [OUTPUT_RETRY_COUNTERS.rounds]: 1, [OUTPUT_RETRY_COUNTERS.jobs]: n });
        return n;
      })(),
    );
  }

  async perModel(): Promise<Record<string, ModelFigures>> {
    return this.db.transaction(() => this.models.read())();
  }

  async counts(): Promise<StateCounts> {
    return this.totals.counts();
  }

  async total(): Promise<number> {
    return Object.values(this.totals.counts()).reduce((a, b) => a + b, 0);
  }

  async counters(): Promise<Record<string, number>> {
    return this.batchRecord.counters();
  }

  /** In one transaction, so that every figure comes from the same snapshot even while a run writes. */
  async summary(): Promise<CheckpointSummary> {
    return this.db.transaction(() =>
      toSummary({
        counts: this.totals.counts(),
        ...this.totals.figures(),
        counters: this.batchRecord.counters(),
        createdAtMs: this.batchRecord.meta()?.createdAtMs ?? null,
      }),
    )();
  }

  async usageByModel(): Promise<ModelUsage[]> {
    return this.spend.usageByModel();
  }

  async workToSend(): Promise<WorkToSend[]> {
    return this.spend.workToSend();
  }

  holdForBudget(): Promise<number> {
    return this.write(() => this.db.transaction(() => this.jobs.holdForBudget(true))());
  }

  releaseBudgetHold(): Promise<number> {
    return this.write(() => this.db.transaction(() => this.jobs.holdForBudget(false))());
  }

  async oldestSubmitted(limit: number): Promise<JobRow[]> {
    return this.jobs.oldestSubmitted(limit);
  }

  async firstUnsuccessful(limit: number): Promise<JobRow[]> {
    return this.jobs.firstUnsuccessful(limit);
  }

  /**
   * A read transaction held across `read`'s awaits: WAL gives it one snapshot while a run goes
   * on writing from another process. For read-only stores (status, export), whose connection
   * nothing else uses meanwhile.
   */
  async snapshot<T>(read: (reader: StoreReader) => Promise<T>): Promise<T> {
    this.db.exec('BEGIN');
    try {
      return await read(this);
    } finally {
      if (this.db.inTransaction) this.db.exec('COMMIT');
    }
  }

  acquireLease(owner: string, staleMs: number): Promise<void> {
    return this.write(() => this.leaseRow.acquire(owner, staleMs));
  }

  heartbeat(owner: string): Promise<boolean> {
    return this.write(() => this.leaseRow.heartbeat(owner));
  }

  releaseLease(owner: string): Promise<void> {
    return this.write(() => this.leaseRow.release(owner));
  }

  async lease(): Promise<LeaseInfo | undefined> {
    return this.leaseRow.current();
  }

  async anyAccepted(): Promise<boolean> {
    return this.totals.anyAccepted();
  }

  async mayChangeKey(): Promise<boolean> {
    return this.keys.mayChangeKey();
  }

  changeKey(salt: string, fingerprint: string): Promise<void> {
    return this.write(() => this.keys.changeKey(salt, fingerprint));
  }

  noteSendingRun(): Promise<void> {
    return this.write(() => this.keys.noteSendingRun());
  }

  noteKeyRejected(): Promise<void> {
    return this.write(() => this.keys.noteKeyRejected());
  }

  async destroy(): Promise<void> {
    this.writable();
    await this.close();
    await Promise.all(['', '-wal', '-shm'].map((s) => rm(this.location + s, { force: true })));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
