import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, spawnCli } from './helpers/cli.ts';
import { killAtInferences } from './helpers/kill.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { mismatches, writeWorkload, type OutputLine } from './helpers/workload.ts';

const fastFlags = ['--poll-interval', '30ms', '--max-poll-interval', '200ms', '--max-rps', '0', '--log-every', '100ms'];

const parseLines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutputLine);

test('-o - writes the results to stdout, and nothing else; progress and the summary stay on stderr', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  const expected = writeWorkload(input, 30);
  const db = join(dir, 'batch.sqlite');
  const r = await runCli(['run', input, '-o', '-', '--db', db, '--base-url', sim.url, ...fastFlags]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(mismatches(parseLines(r.stdout), expected), []);
  assert.match(r.stderr, /finished in .*: 30 jobs, 30 completed/);
  assert.match(r.stderr, /^results: written to stdout$/m);
  assert.ok(!existsSync(join(dir, '-')) && !existsSync('-'), 'no file named -');
  const exported = await runCli(['export', '--db', db, '-o', '-']);
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(exported.stdout, r.stdout, 'export -o - writes the same lines');
  assert.match(exported.stderr, /exported 30 lines to stdout/);

  // The long flag too, and CSV by --format.
  const csv = await runCli(['run', input, '--output', '-', '--format', 'csv', '--db', db, '--base-url', sim.url, ...fastFlags]);
  assert.equal(csv.code, 0, csv.stderr);
  assert.equal(csv.stdout.split('\n').filter(Boolean).length, 31, 'a header and one row per line');
});

test('-o - needs --db, and refuses --json (both would be stdout)', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 2);
  const noDb = await runCli(['run', input, '-o', '-', '--base-url', 'http://127.0.0.1:9/v1']);
  assert.equal(noDb.code, 2);
  assert.equal(noDb.stdout, '');
  assert.match(noDb.stderr, /-o - writes the results to stdout, so there is no results file to keep the checkpoint beside: name it with --db/);

  const json = await runCli(['run', input, '-o', '-', '--db', join(dir, 'c.sqlite'), '--json', '--base-url', 'http://127.0.0.1:9/v1']);
  assert.equal(json.code, 2);
  const object = JSON.parse(json.stdout) as { exitCode: number; error: { message: string } };
  assert.equal(object.exitCode, 2);
  assert.match(object.error.message, /--json and -o - both want stdout/);
  assert.ok(!existsSync(join(dir, 'c.sqlite')), 'nothing was started');
});

test('run - reads stdin into a copy beside the checkpoint: a killed run resumes from the same data piped again or from the copy, other data is refused', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { latencyMs: { asap: 150, standard: 300, flex: 600 } });
  const file = join(dir, 'generated.jsonl');
  const expected = writeWorkload(file, 120);
  const data = readFileSync(file);
  const db = join(dir, 'nightly.sqlite');
  const output = join(dir, 'out.jsonl');
  const args = ['run', '-', '-o', output, '--db', db, '--base-url', sim.url, '--concurrency', '8', ...fastFlags];

  const killed = await killAtInferences(spawnCli(args, {}, data), sim, 40);
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const spool = `${db}.stdin`;
  assert.deepEqual(readFileSync(spool), data, 'the copy holds all of stdin');
  assert.equal(statSync(spool).mode & 0o777, 0o600, 'the copy holds every prompt: 0600, like the checkpoint');

  const other = await runCli(args, {}, 120_000, Buffer.concat([data, Buffer.from(`${JSON.stringify({ custom_id: 'extra', model: 'openai/gpt-oss-20b', input: 'x' })}\n`)]));
  assert.equal(other.code, 2);
  assert.match(other.stderr, /stdin is not the input checkpoint .*nightly\.sqlite was made from: its size changed/);
  assert.match(other.stderr, /pipe the same data again, or run its copy \(sailbatch run .*nightly\.sqlite\.stdin with the same options\)/);
  assert.deepEqual(readFileSync(spool), data, 'a refused rerun leaves the copy of the batch input alone');

  const again = await killAtInferences(spawnCli(args, {}, data), sim, 80);
  assert.equal(again.signal, 'SIGKILL', again.stderr);
  assert.match(again.stderr, /resuming .*nightly\.sqlite/);

  const fromCopy = await runCli(['run', spool, ...args.slice(2)]);
  assert.equal(fromCopy.code, 0, fromCopy.stderr);
  assert.match(fromCopy.stderr, /resumed: \d+ of 120 jobs had finished in earlier runs/);
  assert.deepEqual(mismatches(parseLines(readFileSync(output, 'utf8')), expected), []);
  assert.equal(sim.stats().inferences, 120, 'one inference per line over the three runs');
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('run - -o -: a pipe in, a pipe out; a dry run of stdin keeps nothing', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const file = join(dir, 'generated.jsonl');
  const expected = writeWorkload(file, 12);
  const db = join(dir, 'c.sqlite');
  // What a run killed while copying stdin left: removed, as the writer removes its own leftovers.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  writeFileSync(join(dir, `.c.sqlite.stdin.${gone}-123.tmp`), 'partial');
  const r = await runCli(['run', '-', '-o', '-', '--db', db, '--base-url', sim.url, ...fastFlags], {}, 120_000, readFileSync(file));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(mismatches(parseLines(r.stdout), expected), []);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);

  // The file holding the same data resumes the batch (the content decides, not the name);
  // --errors - is stdout too: the lines that did not complete, here none.
  const output = join(dir, 'out.jsonl');
  const fromFile = await runCli(['run', file, '-o', output, '--errors', '-', '--db', db, '--base-url', sim.url, ...fastFlags]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.match(fromFile.stderr, /resumed: 12 of 12 jobs/);
  assert.equal(fromFile.stdout, '');
  assert.equal(readFileSync(output, 'utf8'), r.stdout);

  const dry = await runCli(['run', '-', '-o', join(dir, 'dry.jsonl'), '--db', join(dir, 'dry.sqlite'), '--dry-run', '--json'], {}, 120_000, readFileSync(file));
  assert.equal(dry.code, 0, dry.stderr);
  const report = JSON.parse(dry.stdout) as { jobs: number; input: string };
  assert.equal(report.jobs, 12);
  assert.equal(report.input, '-');
  assert.ok(!existsSync(join(dir, 'dry.sqlite')) && !existsSync(join(dir, 'dry.sqlite.stdin')) && !existsSync(join(dir, 'dry.jsonl')));
});
