import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { unreachableBoundMs } from '../src/api/retry-policy.ts';
import { closestFirst } from '../src/engine/preflight.ts';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';

const line = (i: number, model: string) => JSON.stringify({ custom_id: `q${i}`, model, input: `question ${i}` });

test('a file naming unknown models: exit 2 before any POST, each model listed with its line count and the closest models first', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  const models = ['openai/gpt-oss-20b', 'openai/gpt-oss-20', 'gpt-4o-mini', 'openai/gpt-oss-20', 'openai/gpt-oss-20', 'gpt-4o-mini'];
  writeFileSync(input, models.map((m, i) => line(i, m)).join('\n') + '\n');
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /2 models named in the input are not available to this API key at http:\/\/127\.0\.0\.1:\d+\/v1; nothing was sent:/);
  assert.match(r.stderr, /^ {2}"openai\/gpt-oss-20" \(3 lines\); this key can use: openai\/gpt-oss-20b, openai\/gpt-oss-120b, moonshotai\/Kimi-K2\.5$/m);
  assert.match(r.stderr, /^ {2}"gpt-4o-mini" \(2 lines\); this key can use: /m);
  assert.match(r.stderr, /--force-model/);
  assert.deepEqual([sim.stats().posts, sim.stats().gets], [0, 1], 'one GET /models, no POST');

  // Nothing was sent, so fixing the file and rerunning starts afresh (no "the file changed" refusal).
  writeFileSync(input, models.map((_, i) => line(i, 'openai/gpt-oss-20b')).join('\n') + '\n');
  const fixed = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--poll-interval', '20ms', '--max-poll-interval', '100ms']);
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.equal(sim.stats().inferences, 6);
});

test('a base URL without /v1: exit 2 with the hint, and not one POST', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, `${line(1, 'openai/gpt-oss-20b')}\n`);
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url.replace(/\/v1$/, '')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /this does not look like a Sail API base URL; it should end in \/v1/);
  assert.equal(sim.stats().posts, 0);
});

test('a port where nothing listens: exit 3 well within a minute, naming the network error', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, `${line(1, 'openai/gpt-oss-20b')}\n`);
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  const started = Date.now();
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', `http://127.0.0.1:${port}/v1`], {}, 90_000);
  const seconds = (Date.now() - started) / 1000;
  assert.equal(r.code, 3, r.stderr);
  assert.ok(seconds < 60, `took ${seconds}s`);
  assert.match(r.stderr, /does not answer: connection refused/);
  assert.match(r.stderr, /nothing was sent/);
});

test('the unreachable bound is short until the API has answered once, then the long patience applies', () => {
  const o = { unreachableAfterMs: 600_000, firstContactTimeoutMs: 30_000 };
  assert.equal(unreachableBoundMs(false, o), 30_000);
  assert.equal(unreachableBoundMs(true, o), 600_000);
  assert.equal(unreachableBoundMs(false, { unreachableAfterMs: 5_000, firstContactTimeoutMs: 30_000 }), 5_000);
});

test('closest names first: a typo finds the model it meant', () => {
  assert.deepEqual(closestFirst('openai/gpt-oss-12b', ['moonshotai/Kimi-K2.5', 'openai/gpt-oss-20b', 'openai/gpt-oss-120b']), [
    'openai/gpt-oss-120b',
    'openai/gpt-oss-20b',
    'moonshotai/Kimi-K2.5',
  ]);
});
