import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL } from './helpers/workload.ts';

const ROWS = [{ id: 'q1', q: 'one' }, { id: 'q2', q: 'two', hint: 'h' }, { id: 'q3', q: 'three' }];

test('JSONL rows: a placeholder or --id-column naming a key that no row has is a usage error before anything is sent; a key only some rows lack is a bad line there', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'questions.jsonl');
  writeFileSync(input, `${ROWS.map((r) => JSON.stringify(r)).join('\n')}\n`);
  const out = join(dir, 'out.jsonl');
  const run = (...args: string[]) => runCli(['run', input, '-o', out, '--base-url', sim.url, '--model', MODEL, ...args]);

  for (const skip of [[], ['--skip-invalid']]) {
    const typo = await run('--prompt', 'Q: {{q}} {{questoin}}', ...skip);
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(typo.stderr, /--prompt: \{\{questoin\}\} names a key that no row of .*questions\.jsonl has \(its rows' keys: "id", "q", "hint"\)/);
    assert.doesNotMatch(typo.stderr, /invalid lines/, 'one usage error, not a bad line per row');
  }
  const id = await run('--prompt', 'Q: {{q}}', '--id-column', 'uid', '--skip-invalid');
  assert.equal(id.code, 2, id.stderr);
  assert.match(id.stderr, /--id-column "uid" names a key that no row of .*questions\.jsonl has/);

  const some = await run('--prompt', 'Q: {{q}} (hint: {{hint}})');
  assert.equal(some.code, 2, some.stderr);
  assert.match(some.stderr, /questions\.jsonl:1: column "hint": missing\n.*questions\.jsonl:3: column "hint": missing\n/);
  assert.match(some.stderr, /2 invalid lines/);

  assert.equal(sim.stats().posts, 0, 'nothing was sent');
  assert.equal(existsSync(out), false);
  assert.equal(existsSync(`${out}.checkpoint.sqlite`), false, 'no checkpoint is left behind');

  const skipped = await run('--prompt', 'Q: {{q}} (hint: {{hint}})', '--skip-invalid', '--completion-window', 'asap', '--poll-interval', '20ms', '-q');
  assert.equal(skipped.code, 1, skipped.stderr);
  assert.equal(sim.stats().inferences, 1, 'the row that has the key runs');
});

test('JSONL rows: an --id-column value with an unpaired surrogate is a bad line, as a request line\'s custom_id is', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'questions.jsonl');
  writeFileSync(input, '{"id":"q1","q":"one"}\n{"id":"q\\ud800","q":"two"}\n');
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--model', MODEL, '--prompt', 'Q: {{q}}', '--id-column', 'id']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /questions\.jsonl:2: column "id": not valid Unicode text \(an unpaired surrogate escape\)/);
  assert.equal(sim.stats().posts, 0);
});
