import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../src/sim/deterministic.ts';
import { spawnCli, waitForOutput, type CliResult } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { pgDatabaseFor, stopPostgres } from './helpers/postgres.ts';
import { testDir } from './helpers/tmp.ts';
import { essence, readOutput, writeWorkload } from './helpers/workload.ts';

after(stopPostgres);

const LINES = 20_000;
const KILLS = 10;
const flags = ['--poll-interval', '50ms', '--max-poll-interval', '300ms', '--max-rps', '0', '--concurrency', '64', '--log-every', '2s'];

interface Member {
  child: ChildProcess & { result: Promise<CliResult> };
  kind: 'run' | 'worker';
  host: string;
  ended?: CliResult;
}

test(`chaos across workers: ${LINES} lines, four processes on four hosts, faults on, ${KILLS} SIGKILLs with replacements, one worker added halfway; equals a fault-free single-process run`, async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, LINES, ['asap', 'priority', '15m']);

  const calm = await simFor(t);
  const storm = await simFor(t, {
    faults: { seed: 7, rateLimitRate: 0.01, retryAfterS: 0.05, serverErrorRate: 0.03, dropAfterCreateRate: 0.05, garbageRate: 0.02, spareModels: true },
  });
  const db = await pgDatabaseFor(t);
  const stormOut = join(dir, 'storm.jsonl');
  const runArgs = ['run', input, '-o', stormOut, '--db', db, '--base-url', storm.url, ...flags, '--max-retries', '30', '--lease-stale', '1s'];
  const workerArgs = ['worker', '--db', db, '--batch', '1', '--log-every', '2s'];

  // The fault-free single-process reference runs alongside, on its own simulator and SQLite file.
  const reference = spawnCli(['run', input, '-o', join(dir, 'calm.jsonl'), '--base-url', calm.url, ...flags]);

  let hosts = 0;
  const fleet: Member[] = [];
  const start = (kind: Member['kind']): Member => {
    const host = `host-${++hosts}`;
    const m: Member = { child: spawnCli(kind === 'run' ? runArgs : workerArgs, { SAILBATCH_HOST: host }), kind, host };
    void m.child.result.then((r) => (m.ended = r));
    fleet.push(m);
    return m;
  };
  const live = () => fleet.filter((m) => !m.ended);
  t.after(() => fleet.forEach((m) => m.child.kill('SIGKILL')));
  /** Waits until the storm simulator has started `n` inferences; fails if the fleet is gone first. */
  const untilInferences = async (n: number, why: string) => {
    while (storm.stats().inferences < n) {
      if (live().length === 0) assert.fail(`${why}: every process ended at ${storm.stats().inferences} inferences`);
      await sleep(10);
    }
  };

  const first = start('run');
  await waitForOutput(first.child, 'running');
  for (let i = 0; i < 3; i++) start('worker');

  // Kills are tied to progress, spread over the batch: a fast machine and a loaded one see the
  // same schedule, and none can finish the batch before the last kill.
  const random = seededRandom(99);
  const killAt = Array.from({ length: KILLS }, (_, k) => Math.floor((LINES * (k + 1)) / (KILLS + 2)));
  let added = false;
  for (const at of killAt) {
    await untilInferences(at, 'before a kill');
    if (!added && at >= LINES / 2) {
      start('worker');
      added = true;
    }
    const members = live();
    const victim = members[Math.floor(random() * members.length)]!;
    victim.child.kill('SIGKILL');
    const ended = await victim.child.result;
    assert.equal(ended.signal, 'SIGKILL', `${victim.kind} on ${victim.host} was still working when killed: ${ended.stderr.slice(-1000)}`);
    start(victim.kind);
  }

  const results = await Promise.all(live().map((m) => m.child.result.then((r) => ({ m, r }))));
  for (const { m, r } of results) assert.equal(r.code, 0, `${m.kind} on ${m.host}: ${r.stderr.slice(-2000)}`);
  assert.ok(results.some(({ m }) => m.kind === 'run'), 'a run was waiting for the end and wrote the results');
  assert.equal(new Set(fleet.map((m) => m.host)).size, fleet.length, 'every process had its own host');
  const ref = await reference.result;
  assert.equal(ref.code, 0, ref.stderr);

  const calmOut = readOutput(join(dir, 'calm.jsonl')).map(essence);
  const out = readOutput(stormOut).map(essence);
  assert.equal(out.length, LINES);
  assert.deepEqual(out, calmOut);
  const stats = storm.stats();
  assert.equal(stats.inferences, LINES, 'one inference per line');
  assert.equal(stats.duplicateInferences, 0);
  assert.equal(fleet.filter((m) => m.ended?.signal === 'SIGKILL').length, KILLS);
  for (const fault of ['http_500', 'dropped after create', 'garbage', '429 random']) {
    assert.ok((stats.faults[fault] ?? 0) > 0, `fault ${fault} happened (${JSON.stringify(stats.faults)})`);
  }
});
