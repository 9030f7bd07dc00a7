import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { normalizeLine } from '../src/input/normalize.ts';
import { simulatedText } from '../src/sim/deterministic.ts';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { readOutput } from './helpers/workload.ts';

const SAIL_MODEL = 'openai/gpt-oss-20b';
const fast = ['--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0'];

test('an OpenAI batch file of chat lines naming gpt-4o-mini runs on a Sail model with --force-model: complete, ordered, right text', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'openai.jsonl');
  const prompts = Array.from({ length: 40 }, (_, i) => `Translate ${i} into French.`);
  writeFileSync(
    input,
    prompts
      .map((p, i) =>
        JSON.stringify({
          custom_id: `request-${i + 1}`,
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: p }], max_tokens: 100 },
        }),
      )
      .join('\n') + '\n',
  );
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--force-model', SAIL_MODEL, ...fast]);
  assert.equal(r.code, 0, r.stderr);
  const out = readOutput(join(dir, 'out.jsonl'));
  assert.deepEqual(out.map((l) => l.custom_id), prompts.map((_, i) => `request-${i + 1}`));
  out.forEach((l, i) => {
    assert.equal(l.error, null);
    assert.equal(l.response?.body['object'], 'chat.completion');
    assert.equal(l.response?.body['output_text'], simulatedText(SAIL_MODEL, `You are terse.\n${prompts[i]}`));
  });
  assert.equal(sim.stats().inferences, 40);
});

test('an Anthropic Message Batches file runs as /v1/messages lines: complete, ordered, right text, OpenAI Batch output', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'anthropic.jsonl');
  const prompts = Array.from({ length: 30 }, (_, i) => `Name ${i + 1} prime numbers.`);
  writeFileSync(
    input,
    prompts
      .map((p, i) => JSON.stringify({ custom_id: `my-request-${i}`, params: { model: SAIL_MODEL, max_tokens: 1024, messages: [{ role: 'user', content: p }] } }))
      .join('\n') + '\n',
  );
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, ...fast]);
  assert.equal(r.code, 0, r.stderr);
  const out = readOutput(join(dir, 'out.jsonl'));
  assert.deepEqual(out.map((l) => l.custom_id), prompts.map((_, i) => `my-request-${i}`));
  out.forEach((l, i) => {
    assert.equal(l.error, null);
    assert.match(l.id, /^batch_req_/);
    assert.equal(l.response?.status_code, 200);
    assert.equal(l.response?.body['type'], 'message');
    assert.equal(l.response?.body['output_text'], simulatedText(SAIL_MODEL, prompts[i]!));
  });
});

test("a chat line's max_tokens is sent as max_completion_tokens, never beside it; --force-model replaces every line's model", () => {
  const defaults = { completionWindow: '24h' as const, forceModel: 'sail/model' };
  const mapped = normalizeLine({ custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 } }, 1, defaults);
  assert.ok(mapped.ok);
  assert.equal(mapped.value.body['max_completion_tokens'], 50);
  assert.equal('max_tokens' in mapped.value.body, false);
  assert.equal(mapped.value.body['model'], 'sail/model');
  const both = normalizeLine({ custom_id: 'b', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, max_completion_tokens: 70 } }, 1, defaults);
  assert.ok(both.ok);
  assert.equal(both.value.body['max_completion_tokens'], 70);
  assert.equal('max_tokens' in both.value.body, false);

  const anthropic = normalizeLine({ custom_id: 'c', params: { model: 'claude-x', max_tokens: 9, messages: [{ role: 'user', content: 'hi' }], system: 'be brief' } }, 3, defaults);
  assert.equal(anthropic.ok, false);
  assert.deepEqual(!anthropic.ok && anthropic.problems.map((p) => p.field), ['params.system']);
});
