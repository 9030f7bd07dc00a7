import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { runCli, spawnCli } from './helpers/cli.ts';
import { workloadFor } from './helpers/batch.ts';
import { killAtInferences } from './helpers/kill.ts';
import { pgDatabaseFor, stopPostgres } from './helpers/postgres.ts';
import { STORE_KINDS, type StoreKind } from './helpers/stores.ts';
import { mismatches, readOutput } from './helpers/workload.ts';

// The commands over either store: the same `--db` workflow (run, kill, rerun, status, retry,
// export) with a SQLite file and with a postgres:// URL, and the same outcome.

after(stopPostgres);

const flags = ['--poll-interval', '30ms', '--max-poll-interval', '200ms', '--max-rps', '0', '--log-every', '100ms', '--lease-stale', '2s'];

async function dbFor(kind: StoreKind, t: TestContext, dir: string): Promise<string> {
  return kind === 'sqlite' ? join(dir, 'cp.sqlite') : pgDatabaseFor(t);
}

for (const kind of STORE_KINDS) {
  describe(`the commands on ${kind}`, () => {
    test('killed twice mid-run and rerun: complete ordered output, one inference per line; status and export read it', async (t) => {
      const { sim, dir, input, output, expected } = await workloadFor(t, 200, { sim: { latencyMs: { asap: 100, standard: 200, flex: 400 } } });
      const db = await dbFor(kind, t, dir);
      const args = ['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--concurrency', '16', ...flags];
      for (const inferences of [40, 120]) {
        const r = await killAtInferences(spawnCli(args), sim, inferences);
        assert.equal(r.signal, 'SIGKILL', `killed once ${inferences} inferences had started: ${r.stderr}`);
      }
      const final = await runCli(args);
      assert.equal(final.code, 0, final.stderr);
      assert.deepEqual(mismatches(readOutput(output), expected), []);
      assert.equal(sim.stats().inferences, 200, 'one inference per line, however often the run was killed');
      assert.equal(sim.stats().duplicateInferences, 0);

      const status = await runCli(['status', '--db', db, '--json']);
      assert.equal(status.code, 0, status.stderr);
      const s = JSON.parse(status.stdout) as { counts: Record<string, number>; total: number; unfinished: number; requests: { posts: number } };
      assert.deepEqual([s.total, s.counts['completed'], s.unfinished], [200, 200, 0]);
      assert.ok(s.requests.posts >= 200, 'POSTs of every run of the batch');

      const copy = join(dir, 'export.jsonl');
      const exported = await runCli(['export', '--db', db, '-o', copy]);
      assert.equal(exported.code, 0, exported.stderr);
      assert.deepEqual(mismatches(readOutput(copy), expected), []);
    });

    test('lines that failed: retry sends only them again, with new keys, and the output is whole', async (t) => {
      const { sim, dir, input, output, expected } = await workloadFor(t, 120, { sim: { faults: { seed: 11, failRate: 0.25 } }, windows: ['asap'] });
      const db = await dbFor(kind, t, dir);
      const args = [input, '-o', output, '--db', db, '--base-url', sim.url, '--concurrency', '16', ...flags];
      const first = await runCli(['run', ...args]);
      assert.equal(first.code, 1, first.stderr);
      const failed = readOutput(output).filter((l) => l.error !== null).length;
      assert.ok(failed > 0 && failed < 120, `some lines failed (${failed})`);
      const status = JSON.parse((await runCli(['status', '--db', db, '--json'])).stdout) as { counts: Record<string, number> };
      assert.deepEqual([status.counts['completed'], status.counts['failed']], [120 - failed, failed]);

      sim.setFaults({ failRate: 0 });
      const retried = await runCli(['retry', ...args]);
      assert.equal(retried.code, 0, retried.stderr);
      assert.deepEqual(mismatches(readOutput(output), expected), []);
      assert.equal(sim.stats().inferences, 120 + failed, 'each failed line paid once more, no other');
      assert.equal(sim.stats().duplicateInferences, failed, 'the second answers are to the failed lines, one each');
    });
  });
}
