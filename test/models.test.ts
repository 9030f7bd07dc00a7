import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';

const SIM_MODELS = ['moonshotai/Kimi-K2.5', 'openai/gpt-oss-20b', 'openai/gpt-oss-120b'];

test("models lists the simulator's models, one id a line or as JSON", async (t) => {
  const sim = await simFor(t);
  const plain = await runCli(['models', '--base-url', sim.url]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(plain.stdout, `${SIM_MODELS.join('\n')}\n`);

  const json = await runCli(['models', '--base-url', sim.url, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const { models, exitCode, error } = JSON.parse(json.stdout) as { models: { id: string; owned_by: string }[]; exitCode: number; error: null };
  assert.deepEqual({ exitCode, error }, { exitCode: 0, error: null });
  assert.deepEqual(models.map((m) => m.id), SIM_MODELS);
  assert.equal(models[0]!.owned_by, 'sail-simulator');
});

test('models with a key the server refuses: exit 3 and a message naming the fix', async (t) => {
  const sim = await simFor(t, { apiKeys: ['good'] });
  const bad = await runCli(['models', '--base-url', sim.url], { SAIL_API_KEY: 'wrong' });
  assert.equal(bad.code, 3, bad.stderr);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /^sailbatch: http:\/\/127\.0\.0\.1:\d+\/v1 refused the API key \(GET models: HTTP 401 invalid_api_key: .*\); check --api-key or SAIL_API_KEY\n$/);
  assert.equal(sim.stats().unauthorized, 1, 'a refused key is not retried');

  const good = await runCli(['models', '--base-url', sim.url, '--api-key', 'good']);
  assert.equal(good.code, 0, good.stderr);
  assert.equal(good.stdout.split('\n').filter(Boolean).length, SIM_MODELS.length);
});

test('models without any API key is a usage error', async () => {
  const r = await runCli(['models', '--base-url', 'http://127.0.0.1:9/v1'], { SAIL_API_KEY: '' });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /no API key: pass --api-key or set SAIL_API_KEY/);
});
