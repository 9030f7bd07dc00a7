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
