import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import { WebhookReceiver, webhookToken } from '../src/engine/webhook-receiver.ts';
import { runBatch } from '../src/engine/runner.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, readOutput, writeWorkload } from './helpers/workload.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const common = { apiKey: 'k', pollIntervalMs: 40, maxPollIntervalMs: 200, maxRequestsPerSecond: 0 };
const latencyMs = { asap: 1_000, standard: 1_000, flex: 1_000 };

test('with webhooks on, the same batch finishes with far fewer GETs than with polling alone', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 100);

  // Every response takes at least 500 ms: polling alone (first poll after ~40 ms) needs more than one GET for a job.
  const polling = await simFor(t, { latencyMs });
  const a = await runBatch({ input, output: join(dir, 'a.jsonl'), baseUrl: polling.url, ...common });
  assert.equal(a.exitCode, 0);

  const hooked = await simFor(t, { latencyMs });
  const port = await freePort();
  const b = await runBatch({
    input,
    output: join(dir, 'b.jsonl'),
    baseUrl: hooked.url,
    ...common,
    // The safety net stays out of this run, so every GET is one the webhook asked for.
    pollIntervalMs: 600_000,
    webhookUrl: `http://127.0.0.1:${port}/sail-hook`,
    webhookListen: `127.0.0.1:${port}`,
  });
  assert.equal(b.exitCode, 0);
  assert.deepEqual(mismatches(readOutput(join(dir, 'b.jsonl')), expected), []);
  assert.equal(hooked.stats().webhooksSent, 100);
  const gets = { polling: polling.stats().gets, webhooks: hooked.stats().gets };
  t.diagnostic(`GETs for 100 jobs: polling alone ${gets.polling}, with webhooks ${gets.webhooks}`);
  // Plus the one pre-flight GET /v1/models every run makes before its first POST.
  assert.ok(gets.webhooks <= 100 + 1, `one GET per notified job: ${JSON.stringify(gets)}`);
  assert.ok(gets.polling > 100, `polling alone asks before jobs are done: ${JSON.stringify(gets)}`);
  assert.equal(readFileSync(join(dir, 'b.jsonl'), 'utf8').includes('webhook_token'), false, 'the webhook token is a secret: never in the output');
  assert.equal(hooked.stats().inferences, 100);
});


test('with webhooks, an answer is fetched as soon as the server says it is done, before a short retention forgets it', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 20, ['24h']);
  // Forgotten 5 s after it is done, while the safety-net poll of the 24h window is minutes away.
  const sim = await simFor(t, { latencyMs: { flex: 300 }, faults: { expireAfterMs: 5_000 } });
  const port = await freePort();
  const r = await runBatch({
    input,
    output: join(dir, 'out.jsonl'),
    baseUrl: sim.url,
    apiKey: 'k',
    maxRequestsPerSecond: 0,
    webhookUrl: `http://127.0.0.1:${port}/sail-hook`,
    webhookListen: `127.0.0.1:${port}`,
  });
  assert.equal(r.counts.expired, 0, JSON.stringify(r.counts));
  assert.deepEqual(mismatches(readOutput(join(dir, 'out.jsonl')), expected), []);
});
test('a forged webhook (wrong or missing token) is refused with 401 and changes nothing; the real token works', async (t) => {
  const dir = testDir(t);
  const cp = SqliteStore.open(join(dir, 'cp.sqlite'));
  t.after(() => cp.close());
  await cp.insertJobs([
    { idx: 0, lineNo: 1, customId: 'a', url: '/v1/responses', body: '{}', bodySha256: 'x', completionWindow: '24h', state: 'pending', idempotencyKey: 'k0' },
  ]);
  const later = Date.now() + 3_600_000;
  await cp.apply([{ kind: 'submitted', idx: 0, attempt: 0, responseId: 'resp_1', apiStatus: 'pending', requestId: null, nextPollAtMs: later }]);

  const token = webhookToken('api-key', 'default', 'sha');
  const receiver = new WebhookReceiver(token, (id) => cp.pollNow(id));
  const { port } = await receiver.listen('127.0.0.1', 0);
  t.after(() => receiver.close());
  const call = (auth: string | undefined) =>
    fetch(`http://127.0.0.1:${port}/hook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify({ type: 'response.completed', data: { id: 'resp_1' } }),
    }).then((r) => r.status);

  assert.equal(await call(undefined), 401);
  assert.equal(await call('Bearer not-the-token'), 401);
  assert.equal(await call(`Bearer ${token}x`), 401);
  assert.equal((await cp.job(0))!.nextPollAtMs, later, 'refused calls changed nothing');
  assert.equal(receiver.stats.refused, 3);

  assert.equal(await call(`Bearer ${token}`), 204);
  assert.ok((await cp.job(0))!.nextPollAtMs! <= Date.now(), 'an authentic call makes the poll due now');
  assert.notEqual(webhookToken('other-key', 'default', 'sha'), token, 'the token depends on the API key');
});

/** A raw HTTP call that sends its headers and `first` bytes of body, then neither finishes nor closes. */
function stalledCall(port: number, headers: Record<string, string>, first: string): Promise<{ status: number | null; closed: boolean }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/hook', headers });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? null, closed: false });
    });
    req.on('error', () => resolve({ status: null, closed: true }));
    req.on('close', () => resolve({ status: null, closed: true }));
    req.write(first);
  });
}

test('the webhook receiver answers a wrong token before reading the body, refuses big bodies unread, and cuts off slow senders', async (t) => {
  const token = webhookToken('api-key', 'default', 'sha');
  const seen: string[] = [];
  const receiver = new WebhookReceiver(token, (id) => seen.push(id), { requestTimeoutMs: 300 });
  const { port } = await receiver.listen('127.0.0.1', 0);
  t.after(() => receiver.close());
  // Failing, each of these would wait for a body that never ends; the bound turns that into a failure.
  // (An unref'd timer: once the answers came, it does not hold the test file's process 20 s more.)
  const bounded = <T>(p: Promise<T>) => Promise.race([p, sleep(20_000, undefined, { ref: false }).then(() => 'no answer' as const)]);

  const forged = await bounded(stalledCall(port, { authorization: 'Bearer wrong', 'content-length': '1000000' }, 'x'.repeat(1000)));
  assert.deepEqual(forged, { status: 401, closed: false }, 'answered 401 while the body was still coming');

  const big = await bounded(stalledCall(port, { authorization: `Bearer ${token}`, 'content-length': String(10 * 1024 * 1024) }, 'x'));
  assert.deepEqual(big, { status: 413, closed: false }, 'a declared body over the cap is refused unread');

  const slow = await bounded(stalledCall(port, { authorization: `Bearer ${token}`, 'content-length': '100' }, '{"data":'));
  assert.deepEqual(slow, { status: null, closed: true }, 'a sender that stalls is cut off');
  assert.deepEqual(seen, []);
  assert.equal(receiver.stats.refused, 2);
});
