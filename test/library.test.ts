import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CheckpointError,
  batchStatus,
  exportResults,
  listModels,
  openStore,
  runBatch,
  UsageError,
  type RunnerEventMap,
} from '../src/index.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { readOutput, writeWorkload } from './helpers/workload.ts';

test('an eval pipeline: runBatch with events, then summary, status and export through the library', async (t) => {
  const dir = testDir(t);
  // The model passes the pre-flight (GET /models lists it) and is refused at POST: a per-line 404.
  const sim = await simFor(t, { withdrawnModels: ['no/such-model'] });
  const input = join(dir, 'prompts.jsonl');
  const output = join(dir, 'answers.jsonl');
  const db = join(dir, 'eval.sqlite');
  const expected = writeWorkload(input, 40);
  appendFileSync(input, `${JSON.stringify({ custom_id: 'q-bad', model: 'no/such-model', input: 'x' })}\n`);

  const events = new EventEmitter<RunnerEventMap>();
  const submitted = new Map<string, string>();
  const finished = new Map<string, RunnerEventMap['job:finished'][0]>();
  const phases: string[] = [];
  events.on('job:submitted', (e) => submitted.set(e.customId, e.responseId));
  events.on('job:finished', (e) => finished.set(e.customId, e));
  events.on('run:phase', (e) => phases.push(e.phase));
  let progressEvents = 0;
  events.on('run:progress', () => progressEvents++);

  const summary = await runBatch(
    { input, output, db, baseUrl: sim.url, apiKey: 'k', pollIntervalMs: 20, maxPollIntervalMs: 100, maxRequestsPerSecond: 0 },
    { events },
  );

  assert.equal(summary.exitCode, 1);
  assert.deepEqual(phases, ['loading', 'loading', 'running', 'writing', 'done'], 'validating, then the pre-flight check');
  assert.equal(submitted.size, 40, 'every background job reported its response id');
  assert.equal(finished.size, 41);
  assert.equal(finished.get('q-bad')!.state, 'failed');
  assert.match(finished.get('q-bad')!.error!, /no\/such-model/);
  assert.ok(expected.every((e) => finished.get(e.customId)?.state === 'completed'));
  assert.ok(progressEvents > 0);

  assert.deepEqual(summary.counts, { pending: 0, submitted: 0, completed: 40, failed: 1, incomplete: 0, cancelled: 0, expired: 0, invalid: 0, invalid_output: 0, not_sent_budget: 0 });
  assert.equal(summary.requests.posts, 41);
  const outputTokens = readOutput(output).reduce((n, l) => n + Number((l.response?.body['usage'] as { output_tokens?: number } | undefined)?.output_tokens ?? 0), 0);
  assert.equal(summary.tokens.output, outputTokens);

  const status = await batchStatus(db);
  assert.equal(status.unfinished, 0);
  assert.equal(status.runner, null, 'the run released its lease');
  assert.deepEqual(status.tokens, summary.tokens);
  assert.deepEqual(status.errors.map((e) => e.customId), ['q-bad']);
  assert.equal(status.errors[0]!.code, 'model_not_found');

  const store = await openStore(db, { readonly: true });
  const totals = await store.summary();
  await store.close();
  assert.deepEqual(totals.counts, summary.counts);
  assert.deepEqual(totals.polls, summary.polls);

  const copy = join(dir, 'copy.jsonl');
  const errors = join(dir, 'errors.jsonl');
  const exported = await exportResults(db, copy, { errors });
  assert.deepEqual(exported, { lines: 41, unfinished: 0, errorLines: 1 });
  assert.deepEqual(readFileSync(copy), readFileSync(output));
  assert.equal(readOutput(errors)[0]!.custom_id, 'q-bad');

  await assert.rejects(batchStatus(join(dir, 'missing.sqlite')), CheckpointError);
  await assert.rejects(exportResults(db, join(dir, 'no-such-folder', 'x.jsonl')), /no-such-folder\/x\.jsonl: its folder does not exist/);
});

test('the library reads SAIL_API_KEY and SAIL_BASE_URL when the options leave them out', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { apiKeys: ['env-key'] });
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  writeWorkload(input, 3);
  const saved = { key: process.env['SAIL_API_KEY'], url: process.env['SAIL_BASE_URL'] };
  t.after(() => {
    for (const [name, value] of [['SAIL_API_KEY', saved.key], ['SAIL_BASE_URL', saved.url]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  delete process.env['SAIL_API_KEY'];
  await assert.rejects(runBatch({ input, output }), (e: unknown) => e instanceof UsageError && e.message === 'apiKey is required: pass it or set SAIL_API_KEY');
  process.env['SAIL_API_KEY'] = 'env-key';
  process.env['SAIL_BASE_URL'] = 'not a url';
  await assert.rejects(runBatch({ input, output }), { message: 'baseUrl must be an http(s) URL (got "not a url" from SAIL_BASE_URL)' });

  process.env['SAIL_BASE_URL'] = sim.url;
  assert.deepEqual((await listModels()).map((m) => m.id), ['moonshotai/Kimi-K2.5', 'openai/gpt-oss-20b', 'openai/gpt-oss-120b']);
  const summary = await runBatch({ input, output, pollIntervalMs: 20, maxPollIntervalMs: 100 });
  assert.equal(summary.counts.completed, 3);
  assert.equal(sim.stats().unauthorized, 0);
  // An option given wins over the environment.
  await assert.rejects(listModels({ apiKey: 'other-key' }), /refused the API key/);
});
