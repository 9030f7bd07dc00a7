import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { runCli, type CliResult } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL, readOutput } from './helpers/workload.ts';

const FAST = ['--completion-window', 'asap', '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0'];

type Body = Record<string, unknown>;

function batchLine(customId: string, body: Body = {}, line: Body = {}): string {
  return JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/responses', body: { model: MODEL, input: `say ${customId}`, ...body }, ...line });
}

interface Run {
  res: CliResult;
  input: string;
  output: string;
  posts: number;
}

/** Runs the built CLI on `content` (written as requests.jsonl) against a fresh simulator. */
async function run(t: TestContext, content: string | Buffer, args: string[] = []): Promise<Run> {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'requests.jsonl');
  const output = join(dir, 'out.jsonl');
  writeFileSync(input, content);
  const res = await runCli(['run', input, '-o', output, '--base-url', sim.url, ...FAST, ...args]);
  return { res, input, output, posts: sim.stats().posts };
}

/** Line 2 of three is `bad`: the run must stop with exit 2, naming it, before any request. */
async function rejectsLine(t: TestContext, bad: string | Buffer, expected: string, args: string[] = []): Promise<Run> {
  const content = Buffer.concat([Buffer.from(`${batchLine('a')}\n`), Buffer.from(bad), Buffer.from(`\n${batchLine('c')}\n`)]);
  const r = await run(t, content, args);
  assertRejected(r, `${r.input}:2: ${expected}`);
  assert.match(r.res.stderr, /1 invalid line in .*nothing was sent/);
  return r;
}

function assertRejected(r: Run, expected: string): void {
  assert.equal(r.res.code, 2, r.res.stderr);
  assert.ok(r.res.stderr.includes(expected), `stderr lacks ${JSON.stringify(expected)}:\n${r.res.stderr}`);
  assert.equal(r.posts, 0);
  assert.equal(existsSync(r.output), false);
}

function assertCompleted(r: Run, customIds: string[]): void {
  assert.equal(r.res.code, 0, r.res.stderr);
  const out = readOutput(r.output);
  assert.deepEqual(out.map((o) => o.custom_id), customIds);
  assert.deepEqual(out.map((o) => o.error), customIds.map(() => null));
  assert.equal(r.posts, customIds.length);
}

test('malformed JSON is named by line', async (t) => {
  await rejectsLine(t, '{"custom_id": "b", "method": "POST"', 'not valid JSON (');
});

test('a UTF-8 byte order mark before the first line is accepted', async (t) => {
  const r = await run(t, `\uFEFF${batchLine('a')}\n${batchLine('b')}\n`);
  assertCompleted(r, ['a', 'b']);
});

test('CRLF line ends are accepted; line numbers and request text are unaffected', async (t) => {
  const r = await run(t, `${batchLine('a')}\r\n{"model":"${MODEL}","input":"bare"}\r\n`);
  assertCompleted(r, ['a', 'line-2']);
  const body = readOutput(r.output)[1]!.response!.body;
  assert.match(String(body['output_text']), /: bare #/);
});

test('blank lines are skipped; one output line per non-empty input line', async (t) => {
  const r = await run(t, `\n${batchLine('a')}\n\n   \n${batchLine('b')}\n\t\n${batchLine('c')}\n\n`);
  assertCompleted(r, ['a', 'b', 'c']);
  assert.equal(readFileSync(r.output, 'utf8').split('\n').filter(Boolean).length, 3);
});

test('invalid UTF-8 is rejected', async (t) => {
  const bad = Buffer.concat([Buffer.from(batchLine('b').slice(0, -3)), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]);
  await rejectsLine(t, bad, 'line is not valid UTF-8');
});

test('a key repeated in one JSON object is rejected', async (t) => {
  await rejectsLine(
    t,
    `{"custom_id":"b","method":"POST","url":"/v1/responses","body":{"model":"${MODEL}","input":"x","input":"y"}}`,
    'body.input: duplicate key "input" in one object',
  );
});

test('a custom_id with an unpaired surrogate is rejected: it cannot be stored or given back as written', async (t) => {
  const fix = 'replace its unpaired surrogate escape';
  await rejectsLine(t, `{"custom_id":"b\\ud800","method":"POST","url":"/v1/responses","body":{"model":"${MODEL}","input":"x"}}`, `custom_id: must be valid Unicode text (got "b\\ud800"); ${fix}`);
  await rejectsLine(t, `{"custom_id":"\\udfffb","model":"${MODEL}","input":"x"}`, `custom_id: must be valid Unicode text (got "\\udfffb"); ${fix}`);
  // A pair is one character, whatever its escapes.
  const r = await run(t, `${batchLine('a')}\n{"custom_id":"b\\ud83d\\ude00","model":"${MODEL}","input":"x"}\n`);
  assert.equal(r.res.code, 0, r.res.stderr);
  assert.deepEqual(readOutput(r.output).map((o) => o.custom_id), ['a', 'b\u{1F600}']);
});

test('an integer past 2^53 is rejected instead of rounded', async (t) => {
  await rejectsLine(
    t,
    `{"custom_id":"b","method":"POST","url":"/v1/responses","body":{"model":"${MODEL}","input":"x","seed":9007199254740993}}`,
    'body.seed: integer 9007199254740993 is beyond 2^53 and would lose precision; write it as a string',
  );
});

test('lines that are not JSON objects (an array, a number) are rejected', async (t) => {
  const r = await run(t, `${batchLine('a')}\n[1,2]\n42\n`);
  assertRejected(r, `${r.input}:2: must be a JSON object (got [1,2])`);
  assert.ok(r.res.stderr.includes(`${r.input}:3: must be a JSON object (got 42)`), r.res.stderr);
});

test('a repeated custom_id names both lines', async (t) => {
  const r = await run(t, `${batchLine('a')}\n${batchLine('b')}\n${batchLine('a')}\n`);
  assertRejected(r, `${r.input}:3: custom_id: "a" is already used on line 1; custom_id must be unique in a batch`);
});

test('an unknown url is rejected with the accepted ones', async (t) => {
  await rejectsLine(t, batchLine('b', {}, { url: '/v1/completions' }), 'url: must be one of "/v1/responses", "/v1/chat/completions", "/v1/messages" (got "/v1/completions")');
});

test('an unknown method is rejected', async (t) => {
  await rejectsLine(t, batchLine('b', {}, { method: 'GET' }), 'method: must be "POST" (got "GET")');
});

test('a batch line without body is rejected', async (t) => {
  await rejectsLine(t, JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/responses' }), 'body: required; give the request as an object');
});

test('a body without input is rejected', async (t) => {
  await rejectsLine(t, batchLine('b', { input: undefined }), 'body.input: required: a non-empty string or a non-empty array of text messages');
});

test('a body without model, with no --model, is rejected with the fix', async (t) => {
  await rejectsLine(t, batchLine('b', { model: undefined }), 'body.model: required; set it in the line or pass --model');
});

test('temperature out of range is rejected with the limit and the value', async (t) => {
  await rejectsLine(t, batchLine('b', { temperature: 3 }), 'body.temperature: must be <= 2 (got 3)');
});

test('top_p out of range is rejected', async (t) => {
  await rejectsLine(t, batchLine('b', { top_p: 1.5 }), 'body.top_p: must be <= 1 (got 1.5)');
});

test('max_output_tokens below 1 is rejected', async (t) => {
  await rejectsLine(t, batchLine('b', { max_output_tokens: 0 }), 'body.max_output_tokens: must be >= 1 (got 0)');
});

test('stream: true is rejected', async (t) => {
  await rejectsLine(t, batchLine('b', { stream: true }), 'body.stream: streaming is not supported by Sail (got true); remove it');
});

test('store: false is rejected', async (t) => {
  await rejectsLine(t, batchLine('b', { store: false }), 'body.store: only true is supported by Sail (got false); remove it');
});

test('tools are rejected', async (t) => {
  await rejectsLine(t, batchLine('b', { tools: [{ type: 'function', name: 'f' }] }), 'body.tools: not supported by Sail (got [{"type":"function","name":"f"}]); remove it');
});

test('truncation other than "disabled" is rejected', async (t) => {
  await rejectsLine(t, batchLine('b', { truncation: 'auto' }), 'body.truncation: only "disabled" is supported by Sail (got "auto"); remove it');
});

test('non-text content parts are rejected', async (t) => {
  const input = [{ role: 'user', content: [{ type: 'input_text', text: 'what is this?' }, { type: 'input_image', image_url: 'https://example.com/a.png' }] }];
  await rejectsLine(
    t,
    batchLine('b', { input }),
    'body.input[0].content[1].type: must be one of "input_text", "output_text", "text" (got "input_image"); Sail accepts text input only',
  );
});

test('metadata values that are not strings are rejected', async (t) => {
  await rejectsLine(t, batchLine('b', { metadata: { priority: 1 } }), 'body.metadata.priority: must be a string (got 1)');
});

test('an unknown completion_window in metadata is rejected with the accepted ones', async (t) => {
  await rejectsLine(
    t,
    batchLine('b', { metadata: { completion_window: '1w' } }),
    'body.metadata.completion_window: must be one of "asap", "15m", "24h", "priority", "standard", "flex" (got "1w")',
  );
});

test('a line over --max-line-bytes is rejected with the limit and the fix', async (t) => {
  await rejectsLine(t, batchLine('b', { input: 'x'.repeat(5_000) }), 'line is longer than the limit of 1024 bytes; shorten it or raise --max-line-bytes', [
    '--max-line-bytes',
    '1024',
  ]);
});

test('an empty file is refused', async (t) => {
  const r = await run(t, '');
  assertRejected(r, `${r.input}: no requests (the file is empty or has only blank lines)`);
});

test('a missing input file is refused', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'nope.jsonl');
  const output = join(dir, 'out.jsonl');
  const res = await runCli(['run', input, '-o', output, '--base-url', sim.url]);
  assertRejected({ res, input, output, posts: sim.stats().posts }, `${input}: no such input file`);
});

/** A valid two-line input, run with `-o output`: refused before anything is sent. */
async function rejectsOutput(t: TestContext, output: (dir: string) => string, expected: (output: string) => string): Promise<void> {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'requests.jsonl');
  writeFileSync(input, `${batchLine('a')}\n${batchLine('b')}\n`);
  const out = output(dir);
  const res = await runCli(['run', input, '-o', out, '--base-url', sim.url, ...FAST]);
  assertRejected({ res, input, output: out, posts: sim.stats().posts }, expected(out));
}

test('an output path whose folder does not exist is refused', async (t) => {
  await rejectsOutput(
    t,
    (dir) => join(dir, 'missing', 'out.jsonl'),
    (out) => `output ${out}: folder ${join(out, '..')} does not exist; create it first`,
  );
});

test('an output path under a regular file is refused', async (t) => {
  await rejectsOutput(
    t,
    (dir) => {
      writeFileSync(join(dir, 'plain'), '');
      return join(dir, 'plain', 'out.jsonl');
    },
    (out) => `output ${out}: ${join(out, '..')} is not a folder`,
  );
});

// sysfs refuses new files even to root, for whom access(W_OK) says yes: the preflight must
// really try, or the batch would be paid for and then fail at writing its results.
test('an output folder that refuses new files (/sys/kernel, even for root) is refused', async (t) => {
  await rejectsOutput(
    t,
    () => '/sys/kernel/sailbatch-out.jsonl',
    (out) => `output ${out}: folder /sys/kernel is not writable (`,
  );
});

test('a checkpoint written by a newer schema is refused with "upgrade sailbatch"', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'requests.jsonl');
  const output = join(dir, 'out.jsonl');
  writeFileSync(input, `${batchLine('a')}\n`);
  const args = ['run', input, '-o', output, '--base-url', sim.url, ...FAST];
  assert.equal((await runCli(args)).code, 0);
  const db = new Database(`${output}.checkpoint.sqlite`);
  db.pragma('user_version = 99');
  db.close();
  const postsBefore = sim.stats().posts;

  const res = await runCli(args);

  assert.equal(res.code, 2, res.stderr);
  assert.match(res.stderr, /checkpoint was written by sailbatch schema v99, this build supports v\d+; upgrade sailbatch/);
  assert.equal(sim.stats().posts, postsBefore);
});

test('--skip-invalid runs the valid lines; each invalid line gets an error line at its position', async (t) => {
  const lines = [batchLine('a'), batchLine('b', { temperature: 3 }), batchLine('c'), '{"custom_id": "d",', batchLine('e')];
  const r = await run(t, `${lines.join('\n')}\n`, ['--skip-invalid']);

  assert.equal(r.res.code, 1, r.res.stderr);
  assert.ok(r.res.stderr.includes(`${r.input}:2: body.temperature: must be <= 2 (got 3)`), r.res.stderr);
  assert.ok(r.res.stderr.includes(`${r.input}:4: not valid JSON (`), r.res.stderr);
  const out = readOutput(r.output);
  assert.equal(out.length, lines.length);
  assert.deepEqual(
    out.map((o) => o.error?.code ?? o.custom_id),
    ['a', 'invalid_request', 'c', 'invalid_request', 'e'],
  );
  assert.equal(out[1]!.error!.message, `${r.input}:2: body.temperature: must be <= 2 (got 3)`);
  assert.match(out[3]!.error!.message, /:4: not valid JSON/);
  assert.equal(r.posts, 3);
});

test('every bad line of a file is named in --errors-file, past the first and past the kept-issue cap', async (t) => {
  const lines: string[] = [];
  const bad: number[] = [];
  for (let i = 1; i <= 60; i++) {
    if (i % 2 === 0) {
      lines.push(batchLine(`j${i}`, { top_p: 2 }));
      bad.push(i);
    } else {
      lines.push(batchLine(`j${i}`));
    }
  }
  const errorsFile = join(testDir(t), 'invalid.txt');
  const r = await run(t, `${lines.join('\n')}\n`, ['--errors-file', errorsFile]);

  assertRejected(r, `sailbatch: ${bad.length} invalid lines in ${r.input}`);
  const named = [...readFileSync(errorsFile, 'utf8').matchAll(/requests\.jsonl:(\d+): body\.top_p: must be <= 1 \(got 2\)/g)].map((m) => Number(m[1]));
  assert.deepEqual(named, bad);
});

test('a messages line without max_tokens is rejected with the flag that fills it', async (t) => {
  await rejectsLine(
    t,
    JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/messages', body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] } }),
    'body.max_tokens: required; set it in the line or pass --max-output-tokens',
  );
});

test('an output folder check leaves no probe file behind', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'requests.jsonl');
  const outDir = join(dir, 'results');
  mkdirSync(outDir);
  writeFileSync(input, `${batchLine('a')}\n`);
  const res = await runCli(['run', input, '-o', join(outDir, 'out.jsonl'), '--db', join(dir, 'cp.sqlite'), '--base-url', sim.url, ...FAST]);
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(readdirSync(outDir), ['out.jsonl']);
});

test('--skip-invalid with every line invalid: exit 2, nothing sent, and no advice to pass --skip-invalid', async (t) => {
  const r = await run(t, '{"input": 1}\n[1]\n', ['--skip-invalid']);
  assertRejected(r, 'all 2 lines are invalid (listed above), so --skip-invalid leaves nothing to run');
  assert.ok(r.res.stderr.includes(`${r.input}:2: `));
  assert.doesNotMatch(r.res.stderr, /pass --skip-invalid/);
});

test('--skip-invalid keeps every custom_id that can be read, so results join back by it', async (t) => {
  const lines = [batchLine('a'), batchLine('b', { temperature: 3 }), '{"custom_id": "c",', batchLine('a', { top_p: 2 }), batchLine('e')];
  const r = await run(t, `${lines.join('\n')}\n`, ['--skip-invalid']);
  assert.equal(r.res.code, 1, r.res.stderr);
  const out = readOutput(r.output);
  // Line 3 is not JSON (nothing can be read); line 4 is invalid and reuses "a", which the first line holds.
  assert.deepEqual(out.map((o) => o.custom_id), ['a', 'b', null, null, 'e']);
  assert.deepEqual(out.map((o) => o.error?.code ?? null), [null, 'invalid_request', 'invalid_request', 'invalid_request', null]);
  assert.match(out[3]!.error!.message, /:4: body\.top_p: must be <= 1/);
  assert.doesNotMatch(r.res.stderr, /:4: custom_id/, 'the invalid line is not reported a second time as a duplicate');
});

test('a deeply nested line is a line error, also with --skip-invalid, never a crash', async (t) => {
  const deep = `{"custom_id": "deep", "input": ${'['.repeat(5_000)}${']'.repeat(5_000)}}`;
  await rejectsLine(t, deep, 'arrays and objects nest deeper than 100 levels');
  const r = await run(t, `${batchLine('a')}\n${deep}\n${batchLine('c')}\n`, ['--skip-invalid']);
  assert.equal(r.res.code, 1, r.res.stderr);
  assert.doesNotMatch(r.res.stderr, /internal error|Maximum call stack/);
  const out = readOutput(r.output);
  assert.deepEqual(out.map((o) => [o.custom_id, o.error?.code ?? null]), [['a', null], ['deep', 'invalid_request'], ['c', null]]);
});

test('many bad lines: the first 20 on the terminal, then a summary by field and reason; all of them with --errors-file and --json', async (t) => {
  const lines: string[] = [];
  for (let i = 1; i <= 300; i++) lines.push(i % 3 === 0 ? batchLine(`j${i}`) : i % 3 === 1 ? batchLine(`j${i}`, { temperature: 2 + i }) : `{"custom_id": "j${i}",`);
  const errorsFile = join(testDir(t), 'invalid.txt');
  const r = await run(t, `${lines.join('\n')}\n`, ['--errors-file', errorsFile, '--json']);
  assertRejected(r, 'sailbatch: 200 invalid lines in');
  const listed = r.res.stderr.split('\n').filter((l) => l.startsWith(`${r.input}:`));
  assert.equal(listed.length, 20, r.res.stderr);
  assert.match(r.res.stderr, /… and 180 more invalid lines \(all of them are in .*invalid\.txt\)\. All 200 by field and reason:\n +100 +body\.temperature: must be <= 2 \(first on line 1\)\n +100 +not valid JSON/);
  const all = readFileSync(errorsFile, 'utf8').trimEnd().split('\n');
  assert.equal(all.length, 200);
  assert.equal(all[198], `${r.input}:298: body.temperature: must be <= 2 (got 300)`);
  const json = JSON.parse(r.res.stdout) as { invalidLines: { count: number; lines: unknown[]; byReason: { count: number }[] }; exitCode: number };
  assert.equal(json.exitCode, 2);
  assert.equal(json.invalidLines.count, 200);
  assert.equal(json.invalidLines.lines.length, 200);
  assert.deepEqual(json.invalidLines.byReason.map((g) => g.count), [100, 100]);
});
