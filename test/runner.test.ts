import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStore } from '../src/checkpoint/open-store.ts';
import type { RunnerEventMap } from '../src/engine/events.ts';
import { runBatch } from '../src/engine/runner.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, readOutput, writeWorkload } from './helpers/workload.ts';

const fast = { pollIntervalMs: 20, maxPollIntervalMs: 100, maxRequestsPerSecond: 0, concurrency: 64 };

test('a 1,000-line file of both line shapes completes, in input order, with each request\'s text', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 1000);
  const events = new EventEmitter<RunnerEventMap>();
  const finishedOrder: number[] = [];
  events.on('job:finished', (e) => finishedOrder.push(e.idx));

  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, apiKey: 'k', ...fast }, { events });

  assert.equal(summary.exitCode, 0);
  assert.equal(summary.counts.completed, 1000);
  assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), []);
  const stats = sim.stats();
  assert.equal(stats.inferences, 1000);
  assert.equal(stats.duplicateInferences, 0);
  assert.equal(stats.posts, 1000);
  // The API finished jobs out of order; the file is in input order all the same.
  assert.notDeepEqual(finishedOrder, [...finishedOrder].sort((a, b) => a - b));
});

test('both status vocabularies and both output shapes are read', async (t) => {
  for (const [statusVocabulary, outputShape] of [['openai', 'items'], ['sail', 'items'], ['openai', 'string']] as const) {
    const dir = testDir(t);
    const sim = await simFor(t, { statusVocabulary, outputShape });
    const input = join(dir, 'in.jsonl');
    const expected = writeWorkload(input, 30);
    const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, apiKey: 'k', ...fast });
    assert.equal(summary.exitCode, 0, `${statusVocabulary}/${outputShape}`);
    assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), [], `${statusVocabulary}/${outputShape}`);
  }
});

test('chat completions and messages lines complete through the synchronous endpoints', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    input,
    [
      { custom_id: 'c1', method: 'POST', url: '/v1/chat/completions', body: { model: 'openai/gpt-oss-20b', messages: [{ role: 'user', content: 'hi chat' }] } },
      { custom_id: 'm1', method: 'POST', url: '/v1/messages', body: { model: 'openai/gpt-oss-20b', max_tokens: 50, messages: [{ role: 'user', content: 'hi messages' }] } },
    ]
      .map((l) => JSON.stringify(l))
      .join('\n'),
  );
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, apiKey: 'k', ...fast });
  assert.equal(summary.exitCode, 0);
  const out = readOutput(join(dir, 'out.jsonl'));
  assert.match(String(out[0]!.response!.body['output_text']), /^echo\(openai\/gpt-oss-20b\): hi chat #/);
  assert.match(String(out[1]!.response!.body['output_text']), /^echo\(openai\/gpt-oss-20b\): hi messages #/);
  assert.equal(sim.stats().inferences, 2);
});

test('a per-line permanent error fails that job only; the output still has a line for it', async (t) => {
  const dir = testDir(t);
  // The model passes the pre-flight (GET /models lists it) and is refused at POST: a per-line 404.
  const sim = await simFor(t, { withdrawnModels: ['no/such-model'] });
  const input = join(dir, 'in.jsonl');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(input, ['{"input":"a","model":"openai/gpt-oss-20b"}', '{"input":"b","model":"no/such-model"}', '{"input":"c","model":"openai/gpt-oss-20b"}'].join('\n'));
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, apiKey: 'k', ...fast });
  assert.equal(summary.exitCode, 1);
  assert.equal(summary.counts.failed, 1);
  const out = readOutput(join(dir, 'out.jsonl'));
  assert.equal(out.length, 3);
  assert.equal(out[1]!.custom_id, 'line-2');
  assert.equal(out[1]!.error!.code, 'model_not_found');
  assert.equal(out[1]!.response!.status_code, 404);
  assert.equal(out[0]!.error, null);
  const cp = await openStore(summary.db, { readonly: true });
  t.after(() => cp.close());
  assert.equal((await cp.counts()).failed, 1);
});

test('the lease heartbeat keeps beating while a large output file is written', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 3000);
  // A heartbeat every 50 ms fires many times during the write of 3,000 lines.
  const summary = await runBatch({ input, output: join(dir, 'out.jsonl'), baseUrl: sim.url, apiKey: 'k', ...fast, leaseStaleMs: 150 });
  assert.equal(summary.exitCode, 0);
  assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), []);
});
