import type { BatchStore, NewJob } from '../checkpoint/store.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { InputError, InterruptedError, UsageError, formatIssue, type InputIssue } from '../errors.ts';
import { readJobBatch, type JobBatchVisitor } from './job-batch.ts';
import type { LineSource } from './line-source.ts';
import { countOf } from '../human-format.ts';

export interface LoadOptions {
  /** Store invalid lines as `invalid` jobs instead of failing the load. */
  skipInvalid: boolean;
  /** Called for every invalid line, in input order, once the page of jobs it is in has been stored: little about them is held in memory. */
  onIssue?: (issue: InputIssue) => void;
  onProgress?: (e: { lines: number; bytes: number }) => void;
  /** Aborting stops the load between lines (nothing has been sent yet). */
  signal?: AbortSignal | undefined;
}

export interface LoadResult {
  jobs: number;
  invalid: number;
  bytes: number;
  sha256: string;
}

/** Where loaded jobs go: the checkpoint, or a dry run's tally. */
export type JobSink = Pick<BatchStore, 'insertJobs' | 'lineOfCustomId'>;

/** Jobs are stored once this many have gathered (the batches of a source hold about a thousand). */
const INSERT_EVERY = 500;
const KEEP_ISSUES = 20;

/**
 * The one job loader: every entry of a source becomes a job in the checkpoint (requests as
 * `pending`, invalid items as `invalid` when skipping), in input
 * order, inserted in pages. Duplicate custom_ids are found by the insert itself, and reported in
 * input order among the other invalid items. Throws
 * InputError after the whole source was read if any item is invalid and the user did not opt
 * into skipping.
 */
export async function loadJobs(cp: JobSink, source: LineSource, o: LoadOptions): Promise<LoadResult> {
  const kept: InputIssue[] = [];
  let invalidLines = 0;
  let buffer: NewJob[] = [];
  let idx = 0;
  let line = 0;

  // Issues wait for the insert that stores their batch, which finds the repeated custom_ids among
  // them: both kinds are then reported together, in input order.
  let pending: { idx: number; issues: readonly InputIssue[] }[] = [];
  const report = () => {
    pending.sort((a, b) => a.idx - b.idx);
    for (const { issues } of pending) {
      for (const issue of issues) {
        if (kept.length < KEEP_ISSUES) kept.push(issue);
        o.onIssue?.(issue);
      }
    }
    pending = [];
  };

  const invalidJob = (job: Pick<NewJob, 'idx' | 'lineNo' | 'url' | 'customId' | 'sourceRow'>, issue: InputIssue): NewJob => ({
    ...job,
    body: null,
    bodySha256: null,
    completionWindow: null,
    state: JOB_STATES.invalid,
    idempotencyKey: null,
    errorCode: 'invalid_request',
    errorMessage: formatIssue(issue),
  });

  const invalid = (job: Pick<NewJob, 'idx' | 'lineNo' | 'url' | 'customId' | 'sourceRow'>, issues: readonly InputIssue[]): NewJob | undefined => {
    pending.push({ idx: job.idx, issues });
    invalidLines++;
    return o.skipInvalid ? invalidJob(job, issues[0]!) : undefined;
  };

  const flush = async () => {
    const dupes = await cp.insertJobs(buffer);
    buffer = [];
    const skipped: NewJob[] = [];
    for (const d of dupes) {
      // An invalid unit whose readable custom_id is taken keeps its error, without the id the column cannot hold twice.
      if (d.state === JOB_STATES.invalid) {
        skipped.push({ ...d, customId: null });
        continue;
      }
      const issue: InputIssue = {
        file: source.file,
        line: d.lineNo,
        field: 'custom_id',
        message: `"${d.customId}" is already used on line ${await cp.lineOfCustomId(d.customId!)}; custom_id must be unique in a batch`,
      };
      const job = invalid({ ...d, customId: null }, [issue]);
      if (job) skipped.push(job);
    }
    if (skipped.length > 0) await cp.insertJobs(skipped);
    report();
  };

  const reached = (lineNo: number) => {
    if (o.signal?.aborted) throw new InterruptedError(`stopped while validating ${source.file} (line ${lineNo}); nothing was sent`);
    line = lineNo;
  };
  const visitor: JobBatchVisitor = {
    job: (job) => {
      reached(job.lineNo);
      buffer.push(job);
    },
    invalid: (item) => {
      reached(item.line);
      const issues = item.problems.map((p) => ({ file: source.file, line: item.line, ...p }));
      const job = invalid({ idx: item.idx, lineNo: item.line, url: '/v1/responses', customId: item.customId, sourceRow: item.sourceRow }, issues);
      if (job) buffer.push(job);
    },
  };

  try {
    for await (const batch of source.batches()) {
      idx = readJobBatch(batch, idx, visitor);
      if (buffer.length >= INSERT_EVERY || pending.length >= INSERT_EVERY) {
        await flush();
        o.onProgress?.({ lines: line, bytes: source.bytesRead });
      }
    }
    await flush();
  } catch (e) {
    // The runner has already checked that the file exists and is not a folder; reading can still be refused.
    if ((e as { code?: string }).code === 'EACCES') throw new UsageError(`${source.file}: permission denied reading the input file`, { cause: e });
    throw e;
  }

  if (idx === 0) throw new UsageError(`${source.file}: no requests (the file is empty or has only blank lines)`);
  if (invalidLines > 0 && !o.skipInvalid) throw new InputError(source.file, kept, invalidLines);
  if (invalidLines === idx) {
    throw new UsageError(`${source.file}: all ${countOf(idx, 'line')} are invalid (listed above), so --skip-invalid leaves nothing to run; nothing was sent`);
  }
  return { jobs: idx, invalid: invalidLines, bytes: source.bytesRead, sha256: source.sha256() };
}
