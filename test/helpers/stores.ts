import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { PostgresStore } from '../../src/checkpoint/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/checkpoint/sqlite/sqlite-store.ts';
import { JOB_STATES } from '../../src/checkpoint/job-states.ts';
import type { BatchMeta, BatchStore, JobUpdate, LostClaims, NewJob } from '../../src/checkpoint/store.ts';
import { resultTokens } from '../../src/cost/usage.ts';
import { pgDatabaseFor } from './postgres.ts';
import { testDir } from './tmp.ts';

/** Both implementations of the store: every case of the store contract runs against each. */
export const STORE_KINDS = ['sqlite', 'postgres'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** The owner the contract's store joins as. */
export const OWNER = 'contract-owner';

export const batchMeta = (over: Partial<BatchMeta> = {}): Omit<BatchMeta, 'loadedAtMs'> => ({
  inputPath: '/data/in.jsonl',
  inputBytes: 0,
  inputSha256: 'sha-in',
  namespace: 'default',
  keySalt: 'salt',
  keyFingerprint: 'fp',
  baseUrl: 'http://127.0.0.1:1/v1',
  optionsJson: '{}',
  createdAtMs: 1_700_000_000_000,
  ...over,
});

export interface StoreUnderTest {
  /** Created the batch and joined it as OWNER. */
  store: BatchStore;
  /** A second, read-only handle on the same batch (what `status` and `export` open). */
  openReader(): Promise<BatchStore>;
  /** A writable handle on the same location that chose no batch (what a fresh `run` finds). */
  openBare(): Promise<BatchStore>;
}

/** A fresh, empty batch in a store of `kind` (a SQLite file in a temp folder, or a fresh PostgreSQL database), closed after the test. */
export async function storeFor(kind: StoreKind, t: TestContext, meta = batchMeta()): Promise<StoreUnderTest> {
  const opened: BatchStore[] = [];
  const track = <S extends BatchStore>(s: S): S => {
    opened.push(s);
    return s;
  };
  t.after(() => Promise.all(opened.map((s) => s.close())));
  if (kind === 'sqlite') {
    const file = join(testDir(t), 'cp.sqlite');
    const store = track(SqliteStore.open(file));
    await store.createBatch(meta);
    await store.acquireLease(OWNER, 60_000);
    return {
      store,
      openReader: async () => track(SqliteStore.open(file, { readonly: true })),
      openBare: async () => track(SqliteStore.open(file)),
    };
  }
  const url = await pgDatabaseFor(t);
  const store = track(await PostgresStore.open(url));
  await store.createBatch(meta);
  await store.acquireLease(OWNER, 60_000);
  const id = store.id!;
  return {
    store,
    openReader: async () => track(await PostgresStore.open(url, { readonly: true, batch: { id } })),
    openBare: async () => track(await PostgresStore.open(url)),
  };
}

export const newJob = (idx: number, over: Partial<NewJob> = {}): NewJob => ({
  idx,
  lineNo: idx + 1,
  customId: `req-${idx}`,
  url: '/v1/responses',
  body: JSON.stringify({ model: 'm', input: `line ${idx}` }),
  bodySha256: `sha-${idx}`,
  completionWindow: '24h',
  state: JOB_STATES.pending,
  idempotencyKey: `key-${idx}-a0`,
  ...over,
});

type Submitted = Extract<JobUpdate, { kind: 'submitted' }>;
type Polled = Extract<JobUpdate, { kind: 'polled' }>;
export type Finished = Extract<JobUpdate, { kind: 'finished' }>;

export const submitted = (idx: number, over: Partial<Submitted> = {}): Submitted => ({
  kind: 'submitted',
  idx,
  attempt: 0,
  responseId: `resp_${idx}`,
  apiStatus: 'queued',
  requestId: `req_id_${idx}`,
  nextPollAtMs: 1_000 + idx,
  ...over,
});

export const polled = (idx: number, over: Partial<Polled> = {}): Polled => ({
  kind: 'polled',
  idx,
  attempt: 0,
  apiStatus: 'in_progress',
  nextPollAtMs: 2_000 + idx,
  ...over,
});

function parsedOrNull(text: string | null): unknown {
  try {
    return text === null ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

/** A final update; its tokens, unless given, are what the engine would read from the result it parsed. */
export const finished = (idx: number, state: Finished['state'], over: Partial<Finished> = {}): Finished => {
  const u = {
    kind: 'finished' as const,
    idx,
    attempt: 0,
    state,
    responseId: null,
    apiStatus: state,
    statusCode: 200,
    requestId: null,
    result: JSON.stringify({ id: `resp_${idx}`, status: state }),
    parsed: null,
    errorCode: state === JOB_STATES.completed ? null : `${state}_code`,
    errorMessage: state === JOB_STATES.completed ? null : `${state} message`,
    ...over,
  };
  return { tokens: resultTokens(parsedOrNull(u.result)), ...u };
};

/** Every job that may be claimed now (pending, and submitted with any poll time), as the engine would before it writes them. */
export async function claimEverything(store: BatchStore): Promise<number[]> {
  const pending = await store.claimPending(1_000_000);
  const due = await store.claimDuePolls(Number.MAX_SAFE_INTEGER, 1_000_000);
  return [...pending, ...due].map((j) => j.idx);
}

/** Claims what may be claimed, applies `updates` and gives the other claims back: one round of the engine. */
export async function claimAndApply(store: BatchStore, updates: readonly JobUpdate[], counters?: Record<string, number>): Promise<LostClaims> {
  const claimed = await claimEverything(store);
  try {
    return await store.apply(updates, counters);
  } finally {
    const written = new Set(updates.map((u) => u.idx));
    await store.release(claimed.filter((i) => !written.has(i)));
  }
}

/** `n` jobs loaded, the first `submit` of them submitted. */
export async function seed(store: BatchStore, n: number, submit = 0): Promise<void> {
  const dupes = await store.insertJobs(Array.from({ length: n }, (_, i) => newJob(i)));
  if (dupes.length > 0) throw new Error(`seed: duplicates ${dupes.map((d) => d.idx)}`);
  if (submit > 0) await claimAndApply(store, Array.from({ length: submit }, (_, i) => submitted(i)));
}
