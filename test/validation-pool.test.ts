import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { NewJob } from '../src/checkpoint/store.ts';
import type { InputIssue } from '../src/errors.ts';
import { loadJobs, type JobSink } from '../src/input/loader.ts';
import type { PlanOptions } from '../src/input/request-plan.ts';
import { prepareBlock } from '../src/input/request-block.ts';
import { RequestLineSource } from '../src/input/request-lines.ts';
import { LineBlockReader } from '../src/input/line-block-reader.ts';
import { preparedInWorkers } from '../src/input/validation-pool.ts';
import { runCli } from './helpers/cli.ts';
import { EVERY_LINE_MAX_BYTES, writeEveryLine } from './helpers/every-line.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL, writeWorkload } from './helpers/workload.ts';

/** Keeps every job stored, and finds repeated custom_ids as the checkpoint's unique column does. */
class MemorySink implements JobSink {
  readonly jobs: NewJob[] = [];
  private readonly lines = new Map<string, number>();

  async insertJobs(jobs: readonly NewJob[]): Promise<NewJob[]> {
    const dupes: NewJob[] = [];
    for (const job of jobs) {
      if (job.customId !== null && this.lines.has(job.customId)) {
        dupes.push(job);
        continue;
      }
      if (job.customId !== null) this.lines.set(job.customId, job.lineNo);
      this.jobs.push(job);
    }
    return dupes;
  }

  async lineOfCustomId(customId: string): Promise<number | undefined> {
    return this.lines.get(customId);
  }
}

async function load(file: string, workers: number, skipInvalid: boolean, plan?: PlanOptions) {
  const sink = new MemorySink();
  const issues: InputIssue[] = [];
  const source = new RequestLineSource(file, { defaults: { completionWindow: '24h', model: MODEL }, plan }, EVERY_LINE_MAX_BYTES, workers);
  const outcome = await loadJobs(sink, source, { skipInvalid, onIssue: (i) => issues.push(i) }).catch((e: Error) => `${e.name}: ${e.message}`);
  return { outcome, issues, jobs: sink.jobs.sort((a, b) => a.idx - b.idx) };
}

test('validation workers store exactly the jobs and report exactly the issues the main thread does, on every kind of line', async (t) => {
  const file = join(testDir(t), 'every.jsonl');
  const lines = writeEveryLine(file);
  const plan: PlanOptions = { models: ['m-1', 'm-2'], samples: 2, promptCacheKey: 'pck', schema: { name: 'answer', schema: { type: 'object' } } };
  for (const [skipInvalid, p] of [[true, undefined], [false, undefined], [true, plan]] as const) {
    const here = await load(file, 0, skipInvalid, p);
    const there = await load(file, 2, skipInvalid, p);
    assert.deepEqual(there, here, `skipInvalid ${skipInvalid}, plan ${p !== undefined}`);
    // In input order, repeated custom_ids among the others.
    assert.deepEqual(here.issues.map((i) => i.line), [...here.issues.map((i) => i.line)].sort((a, b) => a - b));
    if (p) continue;
    // Every bad line, each once: 13 of their own, 7 repeating a custom_id.
    assert.equal(here.issues.length, 20);
    if (skipInvalid) {
      const bytes = readFileSync(file);
      assert.deepEqual(here.outcome, { jobs: lines, invalid: 20, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
      assert.deepEqual(here.jobs.map((j) => j.idx), here.jobs.map((_, i) => i));
    } else assert.match(String(here.outcome), /^InputError: .*20 invalid lines/);
  }
});

test("a body is stored, and so sent, with its keys in the line's order: a JSON schema's property order is the order the model writes them in", async (t) => {
  const file = join(testDir(t), 'order.jsonl');
  const schema = { type: 'object', properties: { reasoning: { type: 'string' }, answer: { enum: ['yes', 'no'] } }, required: ['reasoning', 'answer'] };
  const body = { model: MODEL, input: 'Is it so?', text: { format: { type: 'json_schema', name: 'verdict', schema } }, max_output_tokens: 64 };
  writeFileSync(file, `${JSON.stringify({ custom_id: 'q1', method: 'POST', url: '/v1/responses', body })}\n`);
  const { jobs } = await load(file, 0, false);
  const stored = JSON.parse(jobs[0]!.body!) as typeof body;
  assert.deepEqual(Object.keys(stored.text.format.schema.properties), ['reasoning', 'answer']);
  assert.deepEqual(Object.keys(stored).slice(0, 4), ['model', 'input', 'text', 'max_output_tokens']);
});

/** Runs the helper process that stops a load midway; it must end by itself, every worker gone. */
function stopMidway(mode: 'abort' | 'fail', file: string): Promise<{ code: number | null; out: Record<string, unknown> }> {
  const script = fileURLToPath(new URL('./helpers/validation-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode, file], { stdio: ['ignore', 'pipe', 'inherit'], timeout: 60_000 });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out: stdout ? (JSON.parse(stdout) as Record<string, unknown>) : {} })));
}

test('an abort, or a worker that fails, stops the load with its error, and every validation worker ends with it', async (t) => {
  const dir = testDir(t);
  for (const [mode, lines, name, message] of [
    ['abort', 20_000, 'InterruptedError', /^stopped while validating .*abort\.jsonl \(line \d+\); nothing was sent$/],
    ['fail', 2_000, 'TypeError', /not iterable/],
  ] as const) {
    const file = join(dir, `${mode}.jsonl`);
    writeWorkload(file, lines);
    const { code, out } = await stopMidway(mode, file);
    assert.equal(code, 0, mode);
    assert.equal(out['error'], name);
    assert.match(String(out['message']), message);
    // Stopped early: the abort at the first page stored, the failure at the second block.
    if (mode === 'abort') assert.ok(Number(out['stored']) < lines, `${out['stored']} stored`);
    else assert.ok(Number(out['batches']) <= 1, `${out['batches']} batches`);
  }
});

test('a line too big for a worker\'s heap is prepared on the main thread, with the blocks after it', async (t) => {
  const file = join(testDir(t), 'in.jsonl');
  const line = (id: string, input: string) => JSON.stringify({ custom_id: id, model: MODEL, input });
  writeFileSync(file, [line('a', 'hi'), line('big', 'x'.repeat(6 << 20)), line('c', 'hi'), ''].join('\n'));
  const o = { defaults: { completionWindow: '24h' as const } };
  const here = [];
  for await (const block of new LineBlockReader(file, 8 << 20).blocks()) here.push(prepareBlock(block, o));
  const there = [];
  // A 16 MB heap holds the validation code, but not three copies of a 6 MB line.
  for await (const batch of preparedInWorkers(new LineBlockReader(file, 8 << 20).blocks(), 1, o, { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 1 })) there.push(batch);
  assert.deepEqual(there, here);
});

test('the built CLI validates a file big enough for workers as it validates a small one', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  const n = 15_000;
  writeWorkload(input, n - 1);
  writeFileSync(input, `${readFileSync(input, 'utf8')}{"custom_id": "job-000007", "input": "again", "model": "${MODEL}"}\n`);
  assert.ok(readFileSync(input).length > 2 * 1024 * 1024);
  const bad = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', 'http://127.0.0.1:9/v1']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.ok(bad.stderr.includes(`${input}:${n}: custom_id: "job-000007" is already used on line 8`), bad.stderr);
  const counted = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--dry-run', '--skip-invalid', '--json']);
  assert.equal(counted.code, 0, counted.stderr);
  assert.deepEqual((({ jobs, invalid }) => ({ jobs, invalid }))(JSON.parse(counted.stdout) as { jobs: number; invalid: number }), { jobs: n - 1, invalid: 1 });
});
