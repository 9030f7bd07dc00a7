import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeSummary } from '../src/cli/run.ts';
import type { RunSummary } from '../src/engine/runner.ts';
import { workloadFor } from './helpers/batch.ts';
import { runCli } from './helpers/cli.ts';

const zero = { pending: 0, submitted: 0, completed: 0, failed: 0, incomplete: 0, cancelled: 0, expired: 0, invalid: 0, invalid_output: 0, not_sent_budget: 0 };

function summary(over: Partial<RunSummary>): RunSummary {
  return {
    exitCode: 0,
    stopped: false,
    counts: { ...zero, completed: 3_000 },
    total: 3_000,
    output: 'out.jsonl',
    errorsOutput: undefined,
    db: 'out.jsonl.checkpoint.sqlite',
    wallMs: 187_000,
    requests: { posts: 3_000, gets: 12_345, retries: 1 },
    requestsAllRuns: { posts: 3_000, gets: 12_345, retries: 1 },
    tokens: { input: 1_234_567, cached: 0, output: 2_000, reasoning: 0 },
    polls: { total: 12_345, meanPerJob: 4.1, maxPerJob: 1_200 },
    cpuMs: { load: 1, send: 1, write: 1 },
    resumed: null,
    ...over,
  } as RunSummary;
}

test('the end-of-run summary: one number format, plurals, a line per fact within 80 columns', () => {
  const text = describeSummary(summary({}));
  assert.match(text, /^finished in 3m07s: 3,000 jobs, 3,000 completed\.$/m);
  assert.match(text, /1,234,567 input/);
  assert.match(text, /3,000 POST, 12,345 GET, 1 retry$/m);
  assert.match(text, /1,200 at most/);
  assert.doesNotMatch(text, /\b\d{4,}\b/, 'no number of four digits or more without separators');
  for (const line of text.split('\n')) assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
});

test('after failures the summary points at `sailbatch retry`; a resumed run says how much was already done', () => {
  const failed = describeSummary(summary({ exitCode: 1, counts: { ...zero, completed: 2_990, failed: 7, expired: 3 }, resumed: { finishedBefore: 1_200 } }));
  assert.match(failed, /10 jobs did not complete/);
  assert.match(failed, /`sailbatch retry` with the same arguments/);
  assert.match(failed, /resumed: 1,200 of 3,000 jobs had finished in earlier runs/);
  assert.doesNotMatch(describeSummary(summary({})), /retry`|resumed/);
});

test('a rerun says that it resumes and how much was done', async (t) => {
  const { sim, input, output } = await workloadFor(t, 6, { sim: { faults: { seed: 3, failRate: 0.5 } }, windows: ['asap'] });
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0'];
  const first = await runCli(args);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, /sailbatch retry/);
  const again = await runCli(args);
  assert.match(again.stderr, /resuming .*: 6 of 6 jobs finished in earlier runs/);
  assert.match(again.stderr, /resumed: 6 of 6 jobs had finished in earlier runs/);
});
