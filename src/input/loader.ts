import { createReadStream } from 'node:fs';
import split2 from 'split2';
import { bodySha256, idempotencyKey } from '../api/idempotency-key.ts';
import type { Checkpoint, NewJob } from '../checkpoint/checkpoint.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { InputError, InterruptedError, UsageError, formatIssue, type InputIssue } from '../errors.ts';
import { scanJson } from './json-scan.ts';
import { normalizeLine, type LineDefaults } from './normalize.ts';
import { RawInspector } from './raw-inspector.ts';

export interface LoadOptions {
  file: string;
  defaults: LineDefaults;
  namespace: string;
  maxLineBytes: number;
  /** Store invalid lines as `invalid` jobs instead of failing the load. */
  skipInvalid: boolean;
  /** Called for every invalid line as it is found, so nothing about them is held in memory. */
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

const INSERT_EVERY = 2_000;
const KEEP_ISSUES = 20;

/**
 * Streams the input once: every non-empty line is validated and stored in the checkpoint (valid
 * lines as `pending` with their idempotency key, invalid ones as `invalid` when skipping), while
 * the raw bytes are hashed for the checkpoint's fingerprint. Throws InputError after the whole
 * file was read if any line is invalid and the user did not opt into skipping.
 */
export async function loadInput(cp: Checkpoint, o: LoadOptions): Promise<LoadResult> {
  const inspector = new RawInspector(o.maxLineBytes);
  const source = createReadStream(o.file);
  const lines = source.pipe(inspector).pipe(split2());
  source.on('error', (e) => lines.destroy(e));

  const kept: InputIssue[] = [];
  let invalidLines = 0;
  let buffer: NewJob[] = [];
  let lineNo = 0;
  let idx = 0;

  const report = (issue: InputIssue) => {
    if (kept.length < KEEP_ISSUES) kept.push(issue);
    o.onIssue?.(issue);
  };

  const invalidJob = (job: Pick<NewJob, 'idx' | 'lineNo' | 'url'>, issue: InputIssue): NewJob => ({
    ...job,
    customId: null,
    body: null,
    bodySha256: null,
    completionWindow: null,
    state: JOB_STATES.invalid,
    idempotencyKey: null,
    errorCode: 'invalid_request',
    errorMessage: formatIssue(issue),
  });

  const flush = () => {
    const dupes = cp.insertJobs(buffer);
    buffer = [];
    if (dupes.length === 0) return;
    const invalid: NewJob[] = [];
    for (const d of dupes) {
      const issue: InputIssue = {
        file: o.file,
        line: d.lineNo,
        field: 'custom_id',
        message: `"${d.customId}" is already used on line ${cp.lineOfCustomId(d.customId!)}; custom_id must be unique in a batch`,
      };
      report(issue);
      invalidLines++;
      if (o.skipInvalid) invalid.push(invalidJob(d, issue));
    }
    cp.insertJobs(invalid);
  };

  try {
    for await (const raw of lines as AsyncIterable<string>) {
      lineNo++;
      if (o.signal?.aborted) throw new InterruptedError(`stopped while validating ${o.file} (line ${lineNo}); nothing was sent`);
      const text = lineNo === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
      if (text.trim() === '') continue;
      const here = { idx: idx++, lineNo, url: '/v1/responses' };
      const problem = inspector.problems.get(lineNo);
      inspector.problems.delete(lineNo);
      const fail = (field: string, message: string) => {
        const issue = { file: o.file, line: lineNo, field, message };
        report(issue);
        invalidLines++;
        if (o.skipInvalid) buffer.push(invalidJob(here, issue));
      };
      if (problem) {
        fail('', problem);
      } else {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (e) {
          fail('', `not valid JSON (${(e as Error).message})`);
          continue;
        }
        const scan = scanJson(text);
        if (scan) {
          fail(scan.path, scan.message);
          continue;
        }
        const result = normalizeLine(parsed, lineNo, o.defaults);
        if (!result.ok) {
          const [first, ...more] = result.problems;
          fail(first!.field, first!.message);
          for (const p of more) report({ file: o.file, line: lineNo, ...p });
          continue;
        }
        const { customId, url, body, completionWindow } = result.value;
        const sha = bodySha256(body);
        buffer.push({
          idx: here.idx,
          lineNo,
          customId,
          url,
          body: JSON.stringify(body),
          bodySha256: sha,
          completionWindow,
          state: JOB_STATES.pending,
          idempotencyKey: idempotencyKey({ namespace: o.namespace, customId, attempt: 0, bodySha256: sha }),
        });
      }
      if (buffer.length >= INSERT_EVERY) {
        flush();
        o.onProgress?.({ lines: lineNo, bytes: inspector.bytes });
      }
    }
    flush();
  } catch (e) {
    // The runner has already checked that the file exists and is not a folder; reading can still be refused.
    if ((e as { code?: string }).code === 'EACCES') throw new UsageError(`${o.file}: permission denied reading the input file`, { cause: e });
    throw e;
  }

  if (idx === 0) throw new UsageError(`${o.file}: no requests (the file is empty or has only blank lines)`);
  if (invalidLines > 0 && !o.skipInvalid) throw new InputError(o.file, kept, invalidLines);
  if (invalidLines === idx) {
    throw new UsageError(`${o.file}: all ${idx} lines are invalid (listed above), so --skip-invalid leaves nothing to run; nothing was sent`);
  }
  return { jobs: idx, invalid: invalidLines, bytes: inspector.bytes, sha256: inspector.digest() };
}
