import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_NESTING } from '../src/input/json-scan.ts';
import { simFor } from './helpers/loopback.ts';

async function post(url: string, body: string): Promise<{ status: number; error?: { message: string; code: string | null } }> {
  const r = await fetch(`${url}/responses`, { method: 'POST', headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' }, body });
  const reply = (await r.json()) as { error?: { message: string; code: string | null } };
  return { status: r.status, error: reply.error };
}

/** A Responses body whose `metadata` value nests `depth` arrays, so the whole body nests depth + 1. */
const nested = (depth: number) => `{"model":"openai/gpt-oss-20b","input":"hi","metadata":${'['.repeat(depth)}${']'.repeat(depth)}}`;

test('the simulator refuses a body nested past the CLI limit with a 400, not a stack overflow 500, and infers nothing', async (t) => {
  const sim = await simFor(t);
  const atLimit = await post(sim.url, nested(MAX_NESTING - 1));
  assert.equal(atLimit.status, 400);
  assert.doesNotMatch(atLimit.error!.message, /nests/, 'at the limit the body is read and judged on its fields');
  for (const depth of [MAX_NESTING, 200_000]) {
    const deep = await post(sim.url, nested(depth));
    assert.equal(deep.status, 400, `depth ${depth + 1}`);
    assert.equal(deep.error!.code, 'invalid_json');
    assert.match(deep.error!.message, /nests arrays and objects deeper than 100 levels/);
  }
  assert.equal(sim.stats().inferences, 0);
  assert.equal((await post(sim.url, '{"model":"openai/gpt-oss-20b","input":"hi"}')).status, 200);
  assert.equal(sim.stats().inferences, 1);
});

test('the simulator never bills output past the request\'s cap: a longer answer is cut there and says so, on every endpoint', async (t) => {
  const sim = await simFor(t, { latencyMs: { asap: 1, standard: 1, flex: 1 } });
  const words = 'Please summarise this paragraph about the weather in Paris in the spring';
  const send = async (path: string, body: Record<string, unknown>) => {
    const r = await fetch(`${sim.url}${path}`, { method: 'POST', headers: { authorization: 'Bearer sk-test', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await r.json()) as Record<string, unknown> & { usage: Record<string, number> };
  };
  const model = 'openai/gpt-oss-20b';

  const full = await send('/chat/completions', { model, messages: [{ role: 'user', content: words }] });
  assert.ok(full.usage['completion_tokens']! > 5, 'uncapped, the echo is longer than the caps below');
  const chat = await send('/chat/completions', { model, messages: [{ role: 'user', content: words }], max_completion_tokens: 5 });
  assert.equal(chat.usage['completion_tokens'], 5);
  assert.equal((chat['choices'] as { finish_reason: string }[])[0]!.finish_reason, 'length');
  const legacy = await send('/chat/completions', { model, messages: [{ role: 'user', content: words }], max_tokens: 4 });
  assert.equal(legacy.usage['completion_tokens'], 4);
  const messages = await send('/messages', { model, max_tokens: 3, messages: [{ role: 'user', content: words }] });
  assert.equal(messages.usage['output_tokens'], 3);
  assert.equal(messages['stop_reason'], 'max_tokens');

  for (const [cap, reasoning] of [[6, undefined], [4, { effort: 'high' }]] as const) {
    let r = await send('/responses', { model, input: words, max_output_tokens: cap, background: true, ...(reasoning ? { reasoning } : {}) });
    while (r['status'] !== 'incomplete' && r['status'] !== 'completed') {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const g = await fetch(`${sim.url}/responses/${String(r['id'])}`, { headers: { authorization: 'Bearer sk-test' } });
      r = (await g.json()) as typeof r;
    }
    assert.equal(r['status'], 'incomplete', `cap ${cap}`);
    assert.deepEqual(r['incomplete_details'], { reason: 'max_output_tokens' });
    assert.equal(r.usage['output_tokens'], cap, 'reasoning tokens count within the cap');
  }
});
