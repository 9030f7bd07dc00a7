import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { open, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { idempotencyKey, keyFingerprint, newSalt } from '../api/idempotency-key.ts';
import { isPostgresUrl, openStore } from '../checkpoint/open-store.ts';
import { OUTPUT_RETRY_COUNTERS, type BatchStore, type StateCounts, type StoreReader } from '../checkpoint/store.ts';
import type { ModelFigures, PollStats, TokenUsage } from '../checkpoint/summary.ts';
import { CheckpointError, EXIT, UsageError, type InputIssue } from '../errors.ts';
import { TERMINAL_STATES } from '../checkpoint/job-states.ts';
import { countOf, formatCount } from '../human-format.ts';
import { sameServer } from '../api/same-server.ts';
import { inputChange, sha256File } from '../input/input-change.ts';
import { loadJobs } from '../input/loader.ts';
import { spoolStdin } from '../input/stdin-spool.ts';
import { buildRecipe, type Recipe } from '../input/recipe.ts';
import { defaultDbPath, STDIO, type RunOptions, type RunOptionsInput } from '../options.ts';
import { parseRunOptions } from '../parse-options.ts';
import { assertDistinctTargets } from '../output/targets.ts';
import { outputFormat, writeResults } from '../output/writer.ts';
import { actualCost, type ActualCost } from '../cost/actual-cost.ts';
import type { SpendBudget } from '../cost/budget.ts';
import { loadPriceTable } from '../cost/prices.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { parseListen } from './webhook-receiver.ts';
import { phase, settleLoad, startHeartbeat, workBatch } from './work-batch.ts';
import { safeEmit, type RequestCounts, type RunnerEvents, type RunnerEventMap } from './events.ts';

export interface RunSummary {
  /** 0: every job completed; 1: some ended otherwise (each still has an output line); 130: stopped by the signal. */
  exitCode: 0 | 1 | 130;
  /** True when the run was stopped (signal) before every job was terminal. */
  stopped: boolean;
  counts: StateCounts;
  total: number;
  output: string;
  errorsOutput: string | undefined;
  db: string;
  wallMs: number;
  /** Requests this run sent. */
  requests: RequestCounts;
  /** Requests over every run of this batch, from the checkpoint. */
  requestsAllRuns: RequestCounts;
  /** Summed from the stored results' usage (every run of this batch). */
  tokens: TokenUsage;
  polls: PollStats;
  /** With --prices: what every run of the batch cost, from the usage the server reported. */
  cost?: ActualCost;
  /** With --max-cost: the cap, what is spent (every run), and whether the cap stopped the sending. */
  budget?: { maxUsd: number; spentUsd: number; reached: boolean };
  /**
   * CPU time this process spent (process.cpuUsage, user + system) while validating and storing
   * the input, while sending and polling, and while writing the results; what the benchmarks
   * compare per line.
   */
  cpuMs: { load: number; send: number; write: number };
  /** Set when this run resumed a batch: how many jobs earlier runs had finished. */
  resumed: { finishedBefore: number } | null;
  /** Answers that failed their checks and were asked again by --output-retries (each paid twice), over every run. */
  outputRetries: number;
  /** Jobs and tokens per model, when the run sent each request to several models (--models). */
  models?: Record<string, ModelFigures> | undefined;
}

export interface RunHooks {
  events?: RunnerEvents;
  /** Aborting stops submitting; in-flight requests get a short grace, then the checkpoint is flushed. */
  signal?: AbortSignal;
  /** Every invalid input line, as it is found. */
  onIssue?: (issue: InputIssue) => void;
  /** What an input of `-` reads. @default process.stdin */
  stdin?: Readable;
}

export async function assertWritableFolder(file: string, what: string): Promise<void> {
  const dir = dirname(resolve(file));
  const s = await stat(dir).catch((e: unknown) => {
    const code = (e as { code?: string }).code;
    throw new UsageError(
      code === 'ENOENT' ? `${what} ${file}: folder ${dir} does not exist; create it first` : `${what} ${file}: folder ${dir} cannot be read (${code})`,
      { cause: e },
    );
  });
  if (!s.isDirectory()) throw new UsageError(`${what} ${file}: ${dir} is not a folder`);
  // access(W_OK) says yes to root whatever the mode, and to anyone on folders such as /sys that
  // refuse new files; only creating one tells, before anything is sent rather than after.
  const probe = join(dir, `.sailbatch-probe-${randomUUID()}`);
  try {
    await (await open(probe, 'wx')).close();
  } catch (e) {
    throw new UsageError(`${what} ${file}: folder ${dir} is not writable (${(e as { code?: string }).code}); choose another path`, { cause: e });
  }
  await rm(probe, { force: true });
  const target = await stat(file).catch(() => undefined);
  if (target?.isDirectory()) throw new UsageError(`${what} ${file}: is a folder; give a file path`);
}

/** Refuses an input file that is not the one the checkpoint was made from (design invariant 6). */
export async function assertSameInput(cp: StoreReader, input: string): Promise<void> {
  const changed = await inputChange((await cp.batch())!, input);
  if (changed) {
    throw new CheckpointError(
      `${input} is not the file checkpoint ${cp.location} was made from: ${changed}. ` +
        `To finish the original batch, restore the original file. To run the new file, use another --db ` +
        `(or delete ${cp.location}); lines that are unchanged will be answered from the server's idempotency store where it still has them.`,
    );
  }
}

/** Compares a loaded checkpoint with this run's input and key; refuses what would mix or pay twice. */
async function verifyResume(cp: BatchStore, o: RunOptions, recipe: Recipe, events: RunnerEvents | undefined): Promise<void> {
  const batch = (await cp.batch())!;
  await assertSameInput(cp, o.input);
  const made = (JSON.parse(batch.optionsJson) as { recipeSha256?: string }).recipeSha256;
  if (made !== undefined && made !== recipe.sha256) {
    throw new CheckpointError(
      `${o.input}: the template, system prompt, schema, endpoint, id column or fan-out differ from when checkpoint ${cp.location} was made, ` +
        `so its stored requests are not what this command asks for. To finish the original batch, rerun with the original ones; ` +
        `to run the new ones, use another --db (or delete ${cp.location}).`,
    );
  }
  if (keyFingerprint(o.apiKey, batch.keySalt) !== batch.keyFingerprint) {
    if (await cp.mayChangeKey()) {
      const salt = newSalt();
      await cp.changeKey(salt, keyFingerprint(o.apiKey, salt));
      return;
    }
    throw new CheckpointError(
      `checkpoint ${cp.location} was started with a different API key. Sail scopes idempotency keys per API key, ` +
        `so resuming under this one would pay again for every line already sent. Rerun with the original key, ` +
        `or start a new batch with another --db.`,
    );
  }
  const before = JSON.parse(batch.optionsJson) as Record<string, unknown>;
  // Only options without a default: a default would "differ" whenever the flag is left out.
  for (const name of ['model', 'forceModel', 'maxOutputTokens'] as const) {
    if (before[name] !== o[name] && o[name] !== undefined) {
      safeEmit(events, 'run:warning', {
        message: `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} differs from when this checkpoint was made (${String(before[name])}); the requests stored then are used as they are`,
      });
    }
  }
  if (!sameServer(batch.baseUrl, o.baseUrl)) {
    safeEmit(events, 'run:warning', {
      message: `base URL differs from when this checkpoint was made (${batch.baseUrl}); responses submitted there will be looked up at ${o.baseUrl}`,
    });
  }
}

/**
 * The source of this run's requests and what besides the data file decides them; a dry run reads
 * the same. `hashBodies` for a store that stores each body's hash as it inserts (NewJob).
 */
export function recipeFor(o: Omit<RunOptions, 'apiKey'>, hashBodies = false): Promise<Recipe> {
  return buildRecipe(o, { model: o.model, forceModel: o.forceModel, completionWindow: o.completionWindow, maxOutputTokens: o.maxOutputTokens }, hashBodies);
}

/**
 * Runs a batch end to end: validate and store the input (or verify it on resume), submit and
 * poll every job under the checkpoint's lease, then write the ordered results. Returns a summary;
 * throws typed errors (UsageError/InputError/CheckpointError → exit 2, FatalRunError → exit 3).
 */
const cpuMsBetween = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => (b.user - a.user + b.system - a.system) / 1000;

export async function runBatch(input: RunOptionsInput, hooks: RunHooks = {}): Promise<RunSummary> {
  const started = Date.now();
  const cpuAtStart = process.cpuUsage();
  const o = parseRunOptions(input);
  if (Boolean(o.webhookUrl) !== Boolean(o.webhookListen)) {
    throw new UsageError('--webhook-url and --webhook-listen go together: the URL Sail calls, and where this process receives it');
  }
  if (o.webhookListen) parseListen(o.webhookListen);
  if (o.maxCostUsd !== undefined && o.prices === undefined) {
    throw new UsageError('--max-cost needs --prices: a price table (model → window → USD per 1M tokens) to know what each request may cost');
  }
  if (o.maxCostUsd !== undefined && isPostgresUrl(o.db ?? '')) {
    throw new UsageError('--max-cost needs a SQLite checkpoint: workers sharing a PostgreSQL batch do not share spending reservations yet');
  }
  const prices = o.prices === undefined ? undefined : await loadPriceTable(o.prices);
  const events = hooks.events ?? new EventEmitter<RunnerEventMap>();
  const db = o.db ?? defaultDbPath(o.output);
  const random = o.random ?? Math.random;
  const shared = isPostgresUrl(db);
  if (o.input === STDIO) {
    if (!shared) await assertWritableFolder(db, 'checkpoint');
    o.input = await spoolStdin(hooks.stdin ?? process.stdin, db);
  }

  const inputStat = await stat(o.input).catch((e: unknown) => {
    const code = (e as { code?: string }).code;
    throw new UsageError(code === 'ENOENT' ? `${o.input}: no such input file` : `${o.input}: cannot read the input file (${code})`, { cause: e });
  });
  if (inputStat.isDirectory()) throw new UsageError(`${o.input}: is a folder, not a JSONL file`);
  assertDistinctTargets({ db, output: o.output, errors: o.errorsOutput, input: o.input });
  // PostgreSQL's insert stores each body's hash: hashed while validating, by the validation workers when the file has them.
  const recipe = await recipeFor(o, shared);
  if (o.output !== STDIO) await assertWritableFolder(o.output, 'output');
  if (o.errorsOutput && o.errorsOutput !== STDIO) await assertWritableFolder(o.errorsOutput, 'errors output');
  if (!shared) await assertWritableFolder(db, 'checkpoint');

  // A database holds many batches, told apart by their input: its digest names the batch to join.
  const inputSha256 = shared ? await sha256File(o.input) : '';
  const openIt = () => openStore(db, shared ? { batch: { inputSha256, namespace: o.namespace } } : {});
  // A SQLite file found here, not made by this run, is what an earlier run left (see below).
  const foundFile = !shared && (await stat(db).then(() => true, () => false));
  let cp: BatchStore | undefined = await openIt();
  const location = cp.location;
  const owner = randomUUID();
  let stopHeartbeat = () => {};
  let resumed: RunSummary['resumed'] = null;
  let failed = false;
  const leaseLost: { onLost: (e: Error) => void; lost: Error | undefined } = {
    lost: undefined,
    onLost: (e) => {
      leaseLost.lost = e;
    },
  };
  try {
    await cp.acquireLease(owner, o.leaseStaleMs);
    let batch = await settleLoad(cp, owner, o.leaseStaleMs, events);
    // A load that never finished sent nothing: start it over. A SQLite checkpoint holds nothing
    // but its one batch, so a file found without a loaded one starts over as a new file: an OS
    // crash during a load (which does not wait for the disk) may have kept some of its jobs and
    // lost its batch row. A file this run has just made is used as it is.
    if (!batch && (shared ? (await cp.batch()) !== undefined : foundFile)) {
      await cp.destroy();
      cp = undefined;
      cp = await openIt();
      await cp.acquireLease(owner, o.leaseStaleMs);
    }
    const store: BatchStore = cp;
    stopHeartbeat = startHeartbeat(store, owner, o.leaseStaleMs, location, (e) => leaseLost.onLost(e));

    let created = false;
    if (!batch) {
      phase(events, 'loading', `validating ${o.input}`);
      const salt = newSalt();
      // Never the key, nor --db: a PostgreSQL URL may hold a password, and none is ever stored.
      const { random: _r, apiKey: _k, db: _d, ...recorded } = o;
      created = await store.createBatch({
        inputPath: resolve(o.input),
        inputBytes: inputStat.size,
        inputSha256,
        namespace: o.namespace,
        keySalt: salt,
        keyFingerprint: keyFingerprint(o.apiKey, salt),
        baseUrl: o.baseUrl,
        optionsJson: JSON.stringify({ ...recorded, recipeSha256: recipe.sha256, answerFields: recipe.answerFields, rowKeys: recipe.rowKeys }),
        createdAtMs: Date.now(),
      });
      if (created) {
        try {
          const loaded = await loadJobs(store, recipe.source, {
            skipInvalid: o.skipInvalid,
            onIssue: hooks.onIssue,
            signal: hooks.signal,
            onProgress: (p) => safeEmit(events, 'input:progress', p),
          });
          await store.markLoaded(loaded.bytes, loaded.sha256);
        } catch (e) {
          stopHeartbeat();
          cp = undefined;
          await store.destroy();
          throw e;
        }
      } else {
        // Another run of this input created the batch a moment earlier: join it once it is loaded.
        batch = await settleLoad(store, owner, o.leaseStaleMs, events);
        if (!batch) throw new CheckpointError(`${location}: the run that was loading ${o.input} stopped before it finished; rerun this command to load it again`);
      }
    }
    if (batch) {
      await verifyResume(store, o, recipe, events);
      const before = await store.counts();
      resumed = { finishedBefore: TERMINAL_STATES.reduce((n, st) => n + before[st], 0) };
      phase(events, 'loading', `resuming ${location}: ${formatCount(resumed.finishedBefore)} of ${formatCount(await store.total())} jobs finished in earlier runs`);
    }

    const cpuAtSend = process.cpuUsage();
    const stored = (await store.batch())!;
    if (o.retryFailed) {
      // `retry` asks again on the user's word, so its --output-retries allowance starts afresh
      // (a `run` resuming a killed `retry` goes on counting from here).
      const rounds = (await store.counters())[OUTPUT_RETRY_COUNTERS.rounds] ?? 0;
      if (rounds > 0) await store.apply([], { [OUTPUT_RETRY_COUNTERS.rounds]: -rounds });
      const n = await store.requeueUnsuccessful((j) =>
        idempotencyKey({ namespace: stored.namespace, customId: j.customId, attempt: j.attempt, bodySha256: j.bodySha256 }),
      );
      phase(events, 'loading', `retrying ${countOf(n, 'job')} that ended unsuccessfully, with new idempotency keys`);
    }

    const released = await store.releaseBudgetHold();
    if (released > 0) phase(events, 'loading', `sending the ${countOf(released, 'job')} the spending cap held back last time, with the same idempotency keys`);
    // A refusal before anything was sent leaves no checkpoint behind: fixing the file and
    // rerunning must not meet "the input changed".
    const refuse = async (e: unknown): Promise<never> => {
      if (created) {
        stopHeartbeat();
        cp = undefined;
        await store.destroy();
      }
      throw e;
    };
    const work = await store.workToSend();
    let budget: SpendBudget | undefined;
    if (o.maxCostUsd !== undefined) {
      // Loaded only for a spending cap: it counts tokens with o200k_base, whose tables take a
      // few hundred ms to load, which every other run would pay before its first line.
      const { SpendBudget, assertBudgetable } = await import('../cost/budget.ts');
      try {
        assertBudgetable(work, prices!, o.prices!);
      } catch (e) {
        await refuse(e);
      }
      budget = new SpendBudget(prices!, o.maxCostUsd, actualCost(await store.usageByModel(), prices!).usd);
      // Jobs an earlier run left out at the server may still cost up to their reservation.
      for (let after = -1; ; ) {
        const page = await store.requestsPage(after, 1000);
        for (const row of page) {
          if (row.state === JOB_STATES.submitted) budget.holdExisting({ idx: row.idx, url: row.url, body: row.body!, completionWindow: row.completionWindow });
        }
        if (page.length < 1000) break;
        after = page[page.length - 1]!.idx;
      }
    }

    const { stopped, counts: own, requests } = await workBatch(store, { ...o, random }, owner, {
      events,
      signal: hooks.signal,
      leaseLost,
      spend: budget,
      work,
      refuse,
    });

    const cpuAtWrite = process.cpuUsage();
    // A worker of a fleet saw only its own part: the batch's counts are in the store.
    const counts = shared ? await store.counts() : own;
    const total = await store.total();
    if (!stopped && budget?.reached) {
      const held = await store.holdForBudget();
      counts[JOB_STATES.pending] -= held;
      counts[JOB_STATES.not_sent_budget] += held;
    }
    if (!stopped) {
      phase(events, 'writing', `writing ${o.output === STDIO ? 'the results to stdout' : o.output}`);
      await writeResults(store, o.output, 'all', outputFormat(o.output, o.format));
      if (o.errorsOutput) await writeResults(store, o.errorsOutput, 'errors', outputFormat(o.errorsOutput, o.format));
    }
    phase(events, 'done', stopped ? 'stopped' : 'done');
    const totals = await store.summary();
    return {
      resumed,
      exitCode: stopped ? EXIT.interrupted : counts.completed === total ? EXIT.ok : EXIT.someJobsFailed,
      stopped,
      counts: { ...counts },
      total,
      output: o.output,
      errorsOutput: o.errorsOutput,
      db: location,
      wallMs: Date.now() - started,
      requests,
      requestsAllRuns: totals.requests,
      tokens: totals.tokens,
      polls: totals.polls,
      ...(prices ? { cost: actualCost(await store.usageByModel(), prices) } : {}),
      ...(budget ? { budget: { maxUsd: budget.maxUsd, spentUsd: budget.spent, reached: budget.reached } } : {}),
      cpuMs: {
        load: cpuMsBetween(cpuAtStart, cpuAtSend),
        send: cpuMsBetween(cpuAtSend, cpuAtWrite),
        write: cpuMsBetween(cpuAtWrite, process.cpuUsage()),
      },
      outputRetries: (await store.counters())[OUTPUT_RETRY_COUNTERS.jobs] ?? 0,
      models: o.models ? await store.perModel() : undefined,
    };
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    stopHeartbeat();
    if (cp) {
      // Failing here too (a full disk, a damaged file) must not hide the error that ended the run;
      // a lease left behind is taken over at once by the next run here, its process being gone.
      const quiet = (e: unknown) => {
        if (!failed) throw e;
      };
      await cp.releaseLease(owner).catch(quiet);
      await cp.close().catch(quiet);
    }
  }
}

