import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { sameServer } from '../src/api/same-server.ts';
import { runBatch } from '../src/engine/runner.ts';
import type { RunnerEventMap } from '../src/engine/events.ts';
import { workloadFor } from './helpers/batch.ts';
import { simFor } from './helpers/loopback.ts';

test('base URLs are compared as servers: case, trailing slash and default port do not matter; loopback ports do not either', () => {
  assert.ok(sameServer('https://api.sailresearch.com/v1', 'https://API.sailresearch.com:443/v1/'));
  assert.ok(sameServer('http://127.0.0.1:41000/v1', 'http://localhost:52000/v1'));
  assert.ok(sameServer('http://[::1]:1/v1', 'http://127.0.0.1:2/v1'));
  assert.ok(!sameServer('https://api.sailresearch.com/v1', 'https://eu.sailresearch.com/v1'));
  assert.ok(!sameServer('https://api.sailresearch.com/v1', 'https://api.sailresearch.com:8443/v1'));
  assert.ok(!sameServer('https://api.sailresearch.com/v1', 'https://api.sailresearch.com/v2'));
  assert.ok(!sameServer('http://127.0.0.1:4000/v1', 'https://api.sailresearch.com/v1'));
});

test('resuming against a restarted local server (a new port, another loopback name) does not warn', async (t) => {
  const { sim, input, output } = await workloadFor(t, 4, { windows: ['asap'] });
  const fast = { input, output, apiKey: 'k', pollIntervalMs: 20, maxPollIntervalMs: 100, maxRequestsPerSecond: 0 };
  await runBatch({ ...fast, baseUrl: sim.url });
  const again = await simFor(t);
  const warnings: string[] = [];
  const events = new EventEmitter<RunnerEventMap>();
  events.on('run:warning', (w) => warnings.push(w.message));
  const port = new URL(again.url).port;
  await runBatch({ ...fast, baseUrl: `http://localhost:${port}/v1` }, { events });
  assert.deepEqual(warnings, []);
});
