import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
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
const latencyMs = { asap: 400, standard: 400, flex: 400 };

test('with webhooks on, the same batch finishes with far fewer GETs than with polling alone', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 100);

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
    webhookUrl: `http://127.0.0.1:${port}/sail-hook`,
    webhookListen: `127.0.0.1:${port}`,
  });
  assert.equal(b.exitCode, 0);
  assert.deepEqual(mismatches(readOutput(join(dir, 'b.jsonl')), expected), []);
  assert.equal(hooked.stats().webhooksSent, 100);
  const gets = { polling: polling.stats().gets, webhooks: hooked.stats().gets };
  t.diagnostic(`GETs for 100 jobs: polling alone ${gets.polling}, with webhooks ${gets.webhooks}`);
  assert.ok(gets.webhooks * 2 < gets.polling, JSON.stringify(gets));
  assert.equal(hooked.stats().inferences, 100);
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
