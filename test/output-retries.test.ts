import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { writeReviews } from './helpers/dataset.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL } from './helpers/workload.ts';

interface Summary {
  exitCode: number;
  outputRetries: number;
  counts: { completed: number; invalid_output: number };
}

test('retry --output-retries N gets its own N rounds of re-asks, not what the first run left', async (t) => {
  const dir = testDir(t);
  // Half the answers break the schema, so after one re-ask about a quarter of the rows are still invalid.
  const sim = await simFor(t, { faults: { invalidAnswerRate: 0.5, seed: 3 } });
  const { csv, template, schema } = writeReviews(dir, 60);
  const output = join(dir, 'labeled.csv');
  const cli = async (command: string): Promise<Summary> => {
    const r = await runCli([command, csv, '-o', output, '--template', template, '--schema', schema, '--output-retries', '1', '--model', MODEL,
      '--base-url', sim.url, '--completion-window', 'asap', '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--json', '-q']);
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    return JSON.parse(r.stdout) as Summary;
  };

  const first = await cli('run');
  assert.equal(sim.stats().inferences, 60 + first.outputRetries);
  const stillBad = first.counts.invalid_output;
  assert.ok(stillBad > 0, JSON.stringify(first.counts));

  const before = sim.stats().inferences;
  const second = await cli('retry');
  const sent = sim.stats().inferences - before;
  const reasked = second.outputRetries - first.outputRetries;
  assert.ok(reasked > 0, `the retry re-asked the answers that broke the schema again (${JSON.stringify(second.counts)})`);
  assert.equal(sent, stillBad + reasked, 'the retry sent each invalid row once, plus one round of re-asks');
  assert.equal(second.counts.completed + second.counts.invalid_output, 60);
});
