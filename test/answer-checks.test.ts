import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { checkAnswer } from '../src/answers/answer-checks.ts';
import { ENDPOINT_KINDS } from '../src/api/endpoints.ts';
import { runBatch } from '../src/engine/runner.ts';
import { schemaAnswer } from '../src/sim/schema-answer.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL, readOutput } from './helpers/workload.ts';

const fast = { pollIntervalMs: 20, maxPollIntervalMs: 100, maxRequestsPerSecond: 0, concurrency: 64 };

const LABEL_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['label', 'stars', 'detail'],
  properties: {
    label: { enum: ['positive', 'negative', 'mixed'] },
    stars: { type: 'integer', minimum: 1, maximum: 5 },
    detail: {
      type: 'object',
      required: ['topics', 'confidence'],
      properties: { topics: { type: 'array', minItems: 1, maxItems: 3, items: { type: 'string', maxLength: 30 } }, confidence: { type: 'number', minimum: 0, maximum: 1 } },
    },
  },
};

test('a response the server calls completed but cut at the token cap is incomplete, on every endpoint', () => {
  const r = ENDPOINT_KINDS['/v1/responses'];
  const truncated = { status: 'completed', incomplete_details: { reason: 'max_output_tokens' }, output: 'half an ans', max_output_tokens: 5 };
  const v = checkAnswer(r, truncated, undefined);
  assert.equal(v.state, 'incomplete');
  assert.ok(v.state === 'incomplete' && v.errorMessage.includes('max_output_tokens 5'), JSON.stringify(v));
  // Sail's own example of a completed response carries an empty incomplete_details.
  assert.deepEqual(checkAnswer(r, { status: 'completed', incomplete_details: {}, output: 'fine' }, undefined), { state: 'completed', parsed: null });
  const chat = { choices: [{ message: { content: 'cut' }, finish_reason: 'length' }] };
  assert.equal(checkAnswer(ENDPOINT_KINDS['/v1/chat/completions'], chat, undefined).state, 'incomplete');
  assert.equal(checkAnswer(ENDPOINT_KINDS['/v1/messages'], { content: [{ type: 'text', text: 'cut' }], stop_reason: 'max_tokens' }, undefined).state, 'incomplete');
  // The token limit comes first in the chain: a cut answer is not judged as JSON.
  assert.equal(checkAnswer(r, { ...truncated, output: '{"label":' }, LABEL_SCHEMA).state, 'incomplete');
});

test('answers are checked as JSON, then against the schema, with the path of the first errors', () => {
  const r = ENDPOINT_KINDS['/v1/responses'];
  const answer = (output: string) => checkAnswer(r, { status: 'completed', output }, LABEL_SCHEMA);
  const good = { label: 'mixed', stars: 3, detail: { topics: ['price'], confidence: 0.5 } };
  assert.deepEqual(answer(JSON.stringify(good)), { state: 'completed', parsed: JSON.stringify(good) });
  const notJson = answer('Sure! {"label": "positive"}');
  assert.equal(notJson.state, 'invalid_output');
  assert.ok(notJson.state === 'invalid_output' && notJson.errorCode === 'invalid_json');
  const bad = answer(JSON.stringify({ ...good, label: 'great', detail: { topics: [], confidence: 2 } }));
  assert.ok(bad.state === 'invalid_output', JSON.stringify(bad));
  assert.equal(bad.errorCode, 'schema_mismatch');
  assert.match(bad.errorMessage, /\$\.label: must be equal to one of the allowed values/);
  assert.match(bad.errorMessage, /\$\.detail\.topics: must NOT have fewer than 1 items/);
});

test('the simulator answers json_schema requests with JSON valid against the schema', () => {
  const ajv = new Ajv2020({ allErrors: true });
  const validate = ajv.compile(LABEL_SCHEMA);
  for (let i = 0; i < 200; i++) {
    const value = schemaAnswer(LABEL_SCHEMA, `seed ${i}`, `review number ${i}`);
    assert.ok(validate(value), `${JSON.stringify(value)}: ${ajv.errorsText(validate.errors)}`);
  }
});

test('truncated "completed" responses end incomplete, are counted so, and `retry` resends them', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { faults: { truncateRate: 0.3, seed: 7 } });
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  writeFileSync(input, Array.from({ length: 60 }, (_, i) => JSON.stringify({ custom_id: `q${i}`, model: MODEL, input: `question ${i}` })).join('\n'));
  const summary = await runBatch({ input, output, baseUrl: sim.url, apiKey: 'k', ...fast });
  const lines = readOutput(output);
  const cut = lines.filter((l) => l.error?.code === 'max_output_tokens');
  assert.ok(cut.length > 5 && cut.length < 35, `${cut.length} truncated`);
  assert.equal(summary.counts.incomplete, cut.length);
  assert.equal(summary.counts.completed, 60 - cut.length);
  assert.equal(summary.exitCode, 1);
  for (const l of cut) assert.equal((l.response?.body as { status?: string }).status, 'completed');

  sim.setFaults({ truncateRate: 0 });
  const retried = await runBatch({ input, output, baseUrl: sim.url, apiKey: 'k', retryFailed: true, ...fast });
  assert.equal(retried.exitCode, 0);
  assert.equal(sim.stats().inferences, 60 + cut.length);
});

test('lines carrying their own json_schema format are checked: parsed values in the output, bad answers invalid_output', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { faults: { invalidAnswerRate: 0.2, seed: 3 } });
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  const format = { type: 'json_schema', name: 'label', schema: LABEL_SCHEMA };
  writeFileSync(
    input,
    Array.from({ length: 80 }, (_, i) =>
      i % 2 === 0
        ? JSON.stringify({ custom_id: `r${i}`, model: MODEL, input: `review ${i}`, text: { format } })
        : JSON.stringify({ custom_id: `c${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: `review ${i}` }], response_format: { type: 'json_schema', json_schema: { name: 'label', schema: LABEL_SCHEMA } } } }),
    ).join('\n'),
  );
  const summary = await runBatch({ input, output, baseUrl: sim.url, apiKey: 'k', ...fast });
  const lines = readOutput(output) as (ReturnType<typeof readOutput>[number] & { parsed?: unknown })[];
  const validate = new Ajv2020({ allErrors: true }).compile(LABEL_SCHEMA);
  const invalid = lines.filter((l) => l.error?.code === 'invalid_json' || l.error?.code === 'schema_mismatch');
  assert.ok(invalid.length > 4 && invalid.length < 35, `${invalid.length} invalid`);
  assert.equal(summary.counts.invalid_output, invalid.length);
  assert.equal(summary.exitCode, 1);
  assert.ok(invalid.some((l) => /\$\.label: must be equal to one of the allowed values/.test(l.error!.message)));
  for (const l of lines.filter((x) => x.error === null)) assert.ok(validate(l.parsed), JSON.stringify(l.parsed));
  assert.equal(lines.filter((l) => l.error === null).length + invalid.length, 80);

  const retried = await runBatch({ input, output, baseUrl: sim.url, apiKey: 'k', retryFailed: true, ...fast });
  const after = readOutput(output);
  // Each resend gets a fresh draw under its new key; most come back valid.
  assert.ok(retried.counts.invalid_output < invalid.length, `${retried.counts.invalid_output} still invalid`);
  assert.equal(sim.stats().inferences, 80 + invalid.length);
  assert.equal(after.length, 80);
});
