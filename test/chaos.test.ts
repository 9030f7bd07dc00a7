import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '../src/sim/deterministic.ts';
import { runCli, spawnCli } from './helpers/cli.ts';
import { killAtInferences } from './helpers/kill.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { essence, readOutput, writeWorkload } from './helpers/workload.ts';

const LINES = 2000;
const flags = ['--poll-interval', '50ms', '--max-poll-interval', '300ms', '--max-rps', '0', '--concurrency', '32', '--log-every', '1s'];

test('chaos: 429s, 5xx, dropped POSTs and garbage bodies, killed at random moments and rerun until done, equals a fault-free run', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, LINES);

  const calm = await simFor(t);
  const reference = await runCli(['run', input, '-o', join(dir, 'calm.jsonl'), '--base-url', calm.url, ...flags]);
  assert.equal(reference.code, 0, reference.stderr);

  const storm = await simFor(t, {
    faults: { seed: 42, rateLimitRate: 0.02, retryAfterS: 0.05, serverErrorRate: 0.05, dropAfterCreateRate: 0.1, garbageRate: 0.03 },
  });
  const args = ['run', input, '-o', join(dir, 'storm.jsonl'), '--base-url', storm.url, ...flags, '--max-retries', '30'];
  const random = seededRandom(2024);
  let kills = 0;
  let finished = false;
  for (let attempt = 0; attempt < 12 && !finished; attempt++) {
    const child = spawnCli(args);
    // Killed at a random point of the batch, later each time, five times at most.
    const r = kills < 5 ? await killAtInferences(child, storm, Math.floor(((kills + random()) / 5) * LINES * 0.9)) : await child.result;
    if (r.signal === 'SIGKILL') kills++;
    else {
      assert.equal(r.code, 0, r.stderr);
      finished = true;
    }
  }
  assert.ok(finished, 'the batch finished');
  assert.ok(kills >= 3, `killed ${kills} times mid-run`);

  const calmOut = readOutput(join(dir, 'calm.jsonl')).map(essence);
  const stormOut = readOutput(join(dir, 'storm.jsonl')).map(essence);
  assert.equal(stormOut.length, LINES);
  assert.deepEqual(stormOut, calmOut);

  const stats = storm.stats();
  assert.equal(stats.inferences, LINES, 'one inference per line');
  assert.equal(stats.duplicateInferences, 0);
  for (const fault of ['http_500', 'dropped after create', 'garbage', '429 random']) {
    assert.ok((stats.faults[fault] ?? 0) > 0, `fault ${fault} happened (${JSON.stringify(stats.faults)})`);
  }
});
