import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { isCompletionWindow } from '../api/completion-window.ts';
import { openStore } from '../checkpoint/open-store.ts';
import type { NewJob } from '../checkpoint/store.ts';
import { JOB_STATES, RETRYABLE_STATES, type JobState } from '../checkpoint/job-states.ts';
import { estimateWork, type WorkEstimate } from '../cost/estimate.ts';
import { loadPriceTable } from '../cost/prices.ts';
import { WorkTally } from '../cost/work-tally.ts';
import { UsageError } from '../errors.ts';
import { loadJobs, type JobSink } from '../input/loader.ts';
import { isEndpoint } from '../api/endpoints.ts';
import { copyStdin } from '../input/stdin-spool.ts';
import { defaultDbPath, runOptionsSchema, STDIO, type RunOptionsInput } from '../options.ts';
import { parseOptions } from '../parse-options.ts';
import { assertDistinctTargets } from '../output/targets.ts';
import { safeEmit } from './events.ts';
import { assertSameInput, assertWritableFolder, recipeFor, type RunHooks } from './runner.ts';

export interface DryRunReport extends WorkEstimate {
  dryRun: true;
  input: string;
  /**
   * `input`: the figures are the whole input file, validated as a run would (no checkpoint yet).
   * `checkpoint`: a run would resume this checkpoint; the figures are the jobs it would still send.
   */
  source: 'input' | 'checkpoint';
  db: string;
  /** Valid requests in the input (`source: input`), or jobs in the checkpoint. */
  jobs: number;
  /** Invalid lines skipped (--skip-invalid); without it, any invalid line fails the dry run as it fails a run. */
  invalid: number;
  tokenizer: 'o200k_base';
  prices: string | null;
}

/** A dry run needs no API key: nothing is sent. */
const dryRunOptionsSchema = runOptionsSchema.omit({ apiKey: true });

/** Tallies what the loader would store, and keeps only what duplicate detection needs: custom_id → line. */
class TallySink implements JobSink {
  readonly tally = new WorkTally();
  private readonly lines = new Map<string, number>();
  jobs = 0;
  invalid = 0;

  async insertJobs(jobs: readonly NewJob[]): Promise<NewJob[]> {
    const dupes: NewJob[] = [];
    for (const job of jobs) {
      if (job.state === JOB_STATES.invalid) {
        this.invalid++;
        continue;
      }
      if (this.lines.has(job.customId!)) {
        dupes.push(job);
        continue;
      }
      this.lines.set(job.customId!, job.lineNo);
      this.jobs++;
      this.add(job);
    }
    return dupes;
  }

  async lineOfCustomId(customId: string): Promise<number | undefined> {
    return this.lines.get(customId);
  }

  add(job: Pick<NewJob, 'url' | 'body' | 'completionWindow'>): void {
    if (!isEndpoint(job.url) || !isCompletionWindow(job.completionWindow)) return;
    this.tally.add(job.url, JSON.parse(job.body!) as Record<string, unknown>, job.completionWindow);
  }
}

/**
 * What a run with these options would send, without sending anything: no request of any kind,
 * no output, no checkpoint. The input is read and validated exactly as a run reads it (every
 * invalid line is reported, and fails the dry run unless skipped); when a loaded checkpoint
 * exists, a run would resume it instead, so its unsent jobs are what is counted (with
 * `retryFailed`, also the jobs `retry` would send again).
 */
export async function dryRunBatch(
  input: RunOptionsInput | Omit<RunOptionsInput, 'apiKey'>,
  hooks: RunHooks = {},
  /** How the caller names options in messages (the CLI: its flags). */
  nameOf?: (key: string) => string,
): Promise<DryRunReport> {
  const o = parseOptions(dryRunOptionsSchema, input, nameOf);
  if (o.input !== STDIO) return dryRun(o, hooks);
  // Nothing is kept by a dry run: stdin is read into a temporary copy, counted, and removed.
  const dir = await mkdtemp(join(tmpdir(), 'sailbatch-stdin-'));
  try {
    return { ...(await dryRun({ ...o, input: await copyStdin(hooks.stdin ?? process.stdin, join(dir, 'stdin')) }, hooks)), input: STDIO };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function dryRun(o: z.output<typeof dryRunOptionsSchema>, hooks: RunHooks): Promise<DryRunReport> {
  const db = o.db ?? defaultDbPath(o.output);
  const prices = o.prices === undefined ? undefined : await loadPriceTable(o.prices);
  const inputStat = await stat(o.input).catch((e: unknown) => {
    const code = (e as { code?: string }).code;
    throw new UsageError(code === 'ENOENT' ? `${o.input}: no such input file` : `${o.input}: cannot read the input file (${code})`, { cause: e });
  });
  if (inputStat.isDirectory()) throw new UsageError(`${o.input}: is a folder, not a JSONL file`);
  assertDistinctTargets({ db, output: o.output, errors: o.errorsOutput, input: o.input });
  if (o.output !== STDIO) await assertWritableFolder(o.output, 'output');
  if (o.errorsOutput && o.errorsOutput !== STDIO) await assertWritableFolder(o.errorsOutput, 'errors output');

  const base = { dryRun: true as const, input: resolve(o.input), db, tokenizer: 'o200k_base' as const, prices: o.prices ?? null };
  const existing = await stat(db).then(
    () => openStore(db, { readonly: true }),
    () => undefined,
  );
  try {
    if (existing && (await existing.batch())?.loadedAtMs != null) {
      await assertSameInput(existing, o.input);
      const sink = new TallySink();
      const toSend: JobState[] = [JOB_STATES.pending, JOB_STATES.not_sent_budget, ...(o.retryFailed ? RETRYABLE_STATES : [])];
      let jobs = 0;
      for (let after = -1, page = await existing.requestsPage(after, 1_000); page.length > 0; page = await existing.requestsPage(after, 1_000)) {
        for (const row of page) {
          jobs++;
          if (toSend.includes(row.state)) sink.add(row);
        }
        after = page[page.length - 1]!.idx;
      }
      const estimate = estimateWork(sink.tally.groups(), prices);
      const invalid = (await existing.counts())[JOB_STATES.invalid];
      return { ...base, source: 'checkpoint', jobs, invalid, ...estimate };
    }
  } finally {
    await existing?.close();
  }

  const sink = new TallySink();
  await loadJobs(sink, (await recipeFor(o)).source, {
    skipInvalid: o.skipInvalid,
    onIssue: hooks.onIssue,
    signal: hooks.signal,
    onProgress: (p) => safeEmit(hooks.events, 'input:progress', p),
  });
  return { ...base, source: 'input', jobs: sink.jobs, invalid: sink.invalid, ...estimateWork(sink.tally.groups(), prices) };
}
