import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnCli, waitForOutput, type CliResult } from './helpers/cli.ts';
import type { ChildProcess } from 'node:child_process';
import { workloadFor } from './helpers/batch.ts';
import { pgDatabaseFor, stopPostgres } from './helpers/postgres.ts';
import { rateLimitProxyFor } from './helpers/rate-limit-proxy.ts';
import { mismatches, readOutput } from './helpers/workload.ts';

after(stopPostgres);

type Spawned = ChildProcess & { result: Promise<CliResult> };

/** Waits for a state; fails at once, with its log, if a process of the fleet ended first. */
async function until(what: string, cond: () => boolean, fleet: Spawned[]): Promise<void> {
  while (!cond()) {
    const gone = fleet.find((c) => c.exitCode !== null || c.signalCode !== null);
    if (gone) assert.fail(`${what}: process ${fleet.indexOf(gone)} ended first: ${(await gone.result).stderr.slice(-1500)}`);
    await sleep(20);
  }
}

/** The `(limit N)` of each process's progress lines: the latest, and the lowest since `watchLows`. */
function limitsOf(fleet: Spawned[]) {
  const latest = fleet.map(() => -1);
  const lowest = fleet.map(() => Infinity);
  let watching = false;
  fleet.forEach((c, i) =>
    c.stderr!.on('data', (d: Buffer) => {
      for (const m of d.toString().matchAll(/\((?:throttled by 429s: )?limit (\d+)\)/g)) {
        latest[i] = Number(m[1]);
        if (watching) lowest[i] = Math.min(lowest[i]!, latest[i]!);
      }
    }),
  );
  return { latest, lowest, watchLows: () => (watching = true) };
}

test('shared budget: four workers with --concurrency 32 never have more than 32 requests in flight together; a 429 storm seen by one slows all four', async (t) => {
  const db = await pgDatabaseFor(t);
  // Slow replies keep requests in flight long enough to count them.
  const { sim, input, output, expected } = await workloadFor(t, 1200, { sim: { faults: { slowRate: 1, slowMs: 120 } }, windows: ['asap'] });
  const proxy = await rateLimitProxyFor(t, sim.url);
  // Nobody dies here: the default lease keeps a worker starved of CPU for a moment from passing for dead.
  const common = ['--log-every', '100ms'];
  const run = spawnCli(
    ['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--concurrency', '32', '--max-rps', '0', '--max-retries', '30',
      '--poll-interval', '50ms', '--max-poll-interval', '300ms', ...common],
    { SAILBATCH_HOST: 'h0' },
  );
  t.after(() => run.kill('SIGKILL'));
  await waitForOutput(run, 'running');
  // The last worker alone talks to the simulator through the proxy: only it will be answered 429.
  const workers = [1, 2, 3].map((i) =>
    spawnCli(['worker', '--db', db, '--batch', '1', ...common, ...(i === 3 ? ['--base-url', proxy.url] : [])], { SAILBATCH_HOST: `h${i}` }),
  );
  const fleet = [run, ...workers];
  t.after(() => workers.forEach((c) => c.kill('SIGKILL')));
  const limits = limitsOf(fleet);

  await until('each of the four takes a quarter of the budget', () => limits.latest.every((l) => l === 8), fleet);
  await until('the fleet is well under way', () => sim.stats().inferences >= 300, fleet);
  const calm = sim.stats().peakInFlight;

  limits.watchLows();
  proxy.storm(true);
  await until('every worker backs off', () => limits.lowest.every((l) => l <= 4), fleet);
  proxy.storm(false);

  const results = await Promise.all(fleet.map((c) => c.result));
  results.forEach((r, i) => assert.equal(r.code, 0, `process ${i}: ${r.stderr.slice(-1500)}`));
  assert.ok(calm > 16, `the fleet used its budget (peak ${calm} in flight)`);
  assert.ok(sim.stats().peakInFlight <= 32, `peak in flight ${sim.stats().peakInFlight} > 32`);
  assert.ok(proxy.refused() > 0, 'the storm reached the proxied worker');
  assert.equal(sim.stats().faults['429 random'] ?? 0, 0, 'the other three never saw a 429 themselves');
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  assert.equal(sim.stats().inferences, 1200);
  assert.equal(sim.stats().duplicateInferences, 0);
});
