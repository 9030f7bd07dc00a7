import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'csv-parse/sync';
import { openStore } from '../src/checkpoint/open-store.ts';
import { runBatch } from '../src/engine/runner.ts';
import { runCli, spawnCli } from './helpers/cli.ts';
import { killAtInferences } from './helpers/kill.ts';
import { REVIEW_SCHEMA, writeReviews } from './helpers/dataset.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { MODEL, readOutput } from './helpers/workload.ts';

const fast = { pollIntervalMs: 20, maxPollIntervalMs: 100, maxRequestsPerSecond: 0, concurrency: 64, model: MODEL, completionWindow: 'asap' as const };

type CsvRecord = Record<string, string>;

function readCsv(path: string): CsvRecord[] {
  return parse(readFileSync(path), { columns: true, bom: true }) as CsvRecord[];
}

/** The answer fields of a labeled CSV row back into the object the model answered. */
function answerOf(r: CsvRecord): unknown {
  return { sentiment: r['sentiment'], stars: Number(r['stars']), detail: JSON.parse(r['detail']!) as unknown };
}

test('a 1,000-row CSV (BOM, CRLF, quoted commas, newlines and quotes) is labeled in input order, every answer valid against the schema', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const { csv, template, schema, rows } = writeReviews(dir, 1000);
  const output = join(dir, 'labeled.csv');
  const summary = await runBatch({ input: csv, output, template, schema, baseUrl: sim.url, apiKey: 'k', ...fast });
  assert.equal(summary.exitCode, 0);
  assert.equal(summary.counts.completed, 1000);

  const out = readCsv(output);
  assert.equal(out.length, 1000);
  assert.deepEqual(Object.keys(out[0]!), ['sku', 'product', 'body', 'sentiment', 'stars', 'detail', 'status', 'error']);
  const validate = new Ajv2020({ allErrors: true }).compile(REVIEW_SCHEMA);
  out.forEach((r, i) => {
    assert.deepEqual({ sku: r['sku'], product: r['product'], body: r['body'] }, rows[i], `row ${i + 1}: input columns intact and in order`);
    assert.equal(r['status'], 'completed');
    const answer = answerOf(r);
    assert.ok(validate(answer), `row ${i + 1}: ${JSON.stringify(answer)} ${JSON.stringify(validate.errors)}`);
  });
  assert.equal(sim.stats().inferences, 1000);
  assert.equal(sim.stats().duplicateInferences, 0);
});

test('10% invalid answers end invalid_output with the error path, exit 1; retry resends exactly those; --output-retries does it in one command', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { faults: { invalidAnswerRate: 0.1, seed: 11 } });
  const { csv, template, schema } = writeReviews(dir, 1000);
  const output = join(dir, 'labeled.jsonl');
  const first = await runBatch({ input: csv, output, template, schema, baseUrl: sim.url, apiKey: 'k', ...fast });
  const bad = first.counts.invalid_output;
  assert.ok(bad > 60 && bad < 140, `${bad} invalid_output`);
  assert.equal(first.exitCode, 1);
  const lines = readOutput(output) as (ReturnType<typeof readOutput>[number] & { parsed?: unknown })[];
  const invalidIds = lines.filter((l) => l.error?.code === 'invalid_json' || l.error?.code === 'schema_mismatch').map((l) => l.custom_id);
  assert.equal(invalidIds.length, bad);
  assert.ok(lines.some((l) => /\$\.sentiment: must be equal to one of the allowed values/.test(l.error?.message ?? '')), 'schema errors name the path');
  assert.ok(lines.every((l) => (l.error === null) === (l.parsed !== undefined)), 'completed lines carry parsed, others do not');

  sim.setFaults({ invalidAnswerRate: 0 });
  const before = sim.stats();
  const second = await runBatch({ input: csv, output, template, schema, baseUrl: sim.url, apiKey: 'k', retryFailed: true, ...fast });
  assert.equal(second.exitCode, 0);
  const after = sim.stats();
  assert.equal(after.inferences - before.inferences, bad, 'exactly the invalid ones were sent again');
  assert.equal(after.replays - before.replays, 0, 'each under a new key (a reused key would replay the bad answer)');
  const fixed = readOutput(output);
  for (const id of invalidIds) assert.equal(fixed.find((l) => l.custom_id === id)?.error, null, `${id} fixed`);

  const dir2 = testDir(t);
  const sim2 = await simFor(t, { faults: { invalidAnswerRate: 0.1, seed: 12 } });
  const again = writeReviews(dir2, 1000);
  const one = await runBatch({ input: again.csv, output: join(dir2, 'labeled.csv'), template: again.template, schema: again.schema, outputRetries: 2, baseUrl: sim2.url, apiKey: 'k', ...fast });
  // A row still invalid after two re-asks has probability 0.1^3: about one in a thousand rows.
  assert.ok(one.counts.invalid_output <= 3, JSON.stringify(one.counts));
  assert.equal(one.counts.completed + one.counts.invalid_output, 1000);
  assert.equal(one.exitCode, one.counts.invalid_output === 0 ? 0 : 1);
  assert.ok(one.outputRetries > 70 && one.outputRetries < 150, `${one.outputRetries} answers asked again`);
  assert.equal(sim2.stats().inferences, 1000 + one.outputRetries, 'the summary counts every answer paid twice');
});

test('SIGKILLed several times during a templated, schema-checked run: complete, ordered, one inference per row plus the deliberate re-asks', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { latencyMs: { asap: 150, standard: 300, flex: 600 }, faults: { invalidAnswerRate: 0.1, seed: 5 } });
  const { csv, template, schema, rows } = writeReviews(dir, 300);
  const output = join(dir, 'labeled.csv');
  const args = ['run', csv, '-o', output, '--template', template, '--schema', schema, '--output-retries', '2', '--model', MODEL, '--base-url', sim.url,
    '--concurrency', '16', '--poll-interval', '50ms', '--max-poll-interval', '200ms', '--completion-window', 'asap', '--json'];
  for (const inferences of [40, 110, 180, 250]) {
    const r = await killAtInferences(spawnCli(args), sim, inferences);
    assert.equal(r.signal, 'SIGKILL', `killed mid-run once ${inferences} inferences had started: ${r.stderr}`);
  }
  const final = await runCli(args);
  assert.ok(final.code === 0 || final.code === 1, final.stderr);
  const summary = JSON.parse(final.stdout) as { outputRetries: number; counts: { completed: number; invalid_output: number } };
  assert.equal(summary.counts.completed + summary.counts.invalid_output, 300, JSON.stringify(summary.counts));
  const out = readCsv(output);
  assert.deepEqual(out.map((r) => r['sku']), rows.map((r) => r.sku), 'complete and in input order');
  assert.ok(summary.outputRetries > 10, `${summary.outputRetries} re-asks`);
  assert.equal(sim.stats().inferences, 300 + summary.outputRetries, 'one inference per row, plus only the deliberate re-asks');
});

test('--models a,b --samples 3 over 100 rows: 600 lines in row/model/sample order, 600 inferences, per-model counts in --json', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'questions.jsonl');
  writeFileSync(input, Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: `q${i}`, q: { text: `What is ${i} + ${i}?` } })).join('\n'));
  const output = join(dir, 'evals.csv');
  const models = ['openai/gpt-oss-20b', 'openai/gpt-oss-120b'];
  const r = await runCli(['run', input, '-o', output, '--prompt', 'Q: {{q.text}}', '--id-column', 'id', '--models', models.join(','), '--samples', '3',
    '--base-url', sim.url, '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--completion-window', 'asap', '--json', '-q']);
  assert.equal(r.code, 0, r.stderr);
  const rows = readCsv(output);
  assert.equal(rows.length, 600);
  const expected = Array.from({ length: 100 }, (_, i) => models.flatMap((m) => [1, 2, 3].map((s) => `q${i} ${m} ${s}`))).flat();
  assert.deepEqual(rows.map((x) => `${x['id']} ${x['model']} ${x['sample']}`), expected);
  assert.ok(rows.every((x) => x['output_text']!.startsWith(`echo(${x['model']}): Q: What is`)));
  assert.equal(sim.stats().inferences, 600);
  const summary = JSON.parse(r.stdout) as { models: Record<string, { jobs: number; counts: { completed: number }; tokens: { output: number } }> };
  for (const m of models) {
    assert.equal(summary.models[m]!.jobs, 300);
    assert.equal(summary.models[m]!.counts.completed, 300);
    assert.ok(summary.models[m]!.tokens.output > 0);
  }
  const ids = readOutput((await runCli(['export', '--db', `${output}.checkpoint.sqlite`, '-o', join(dir, 'evals.jsonl')]), join(dir, 'evals.jsonl'))).map((l) => l.custom_id);
  assert.equal(ids[0], 'q0@openai/gpt-oss-20b#1');
  assert.equal(ids[5], 'q0@openai/gpt-oss-120b#3');
});

test('bad data exits 2, named by file, row and column, with nothing sent', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const { csv, template, schema } = writeReviews(dir, 20);
  const out = join(dir, 'out.csv');
  const run = (args: string[]) => runCli(['run', ...args, '-o', out, '--base-url', sim.url, '--model', MODEL]);
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  const missing = await run([csv, '--prompt', 'Rate {{product}}: {{review}}']);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /--prompt: \{\{review\}\} names no column of .*reviews\.csv \(its columns: "sku", "product", "body"\)/);

  const empty = write('empty.csv', 'sku,product,body\nA1,kettle,fine\nA2,,great\n');
  const e = await run([empty, '--template', template]);
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, /empty\.csv:3: column "product": empty/);

  const ragged = write('ragged.csv', 'sku,product,body\nA1,kettle,fine\nA2,toaster,good,extra\n');
  const rg = await run([ragged, '--template', template]);
  assert.equal(rg.code, 2, rg.stderr);
  assert.match(rg.stderr, /ragged\.csv:3: has 4 fields, the header has 3/);

  const notObject = write('rows.jsonl', '{"sku":"A1","product":"kettle","body":"ok"}\n["A2","toaster","bad"]\n');
  const no = await run([notObject, '--template', template]);
  assert.equal(no.code, 2, no.stderr);
  assert.match(no.stderr, /rows\.jsonl:2: must be a JSON object/);

  const badSchema = write('bad.schema.json', JSON.stringify({ type: 'object', properties: { label: { type: 'strng' } } }));
  const bs = await run([csv, '--template', template, '--schema', badSchema]);
  assert.equal(bs.code, 2, bs.stderr);
  assert.match(bs.stderr, /--schema .*bad\.schema\.json: not a valid JSON Schema/);

  assert.equal((await run([csv, '--template', template, '--schema', schema, '--dry-run'])).code, 0, 'the good files are fine');
  assert.equal(sim.stats().posts, 0);
});

test('the batch identity covers the template, the system prompt and the schema', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const { csv, template, schema } = writeReviews(dir, 10);
  const output = join(dir, 'labeled.csv');
  await runBatch({ input: csv, output, template, schema, baseUrl: sim.url, apiKey: 'k', ...fast });
  writeFileSync(template, 'Another prompt for {{body}}');
  await assert.rejects(runBatch({ input: csv, output, template, schema, baseUrl: sim.url, apiKey: 'k', ...fast }), /the template, system prompt, schema/);
  await assert.rejects(
    runBatch({ input: csv, output, prompt: 'x {{body}}', system: 'be brief', baseUrl: sim.url, apiKey: 'k', ...fast }),
    /the template, system prompt, schema/,
  );
});

test('templated requests on each endpoint: the system prompt, the schema in its place, the prompt-cache key shared by every row', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const { csv, template, schema } = writeReviews(dir, 12);
  const validate = new Ajv2020({ allErrors: true }).compile(REVIEW_SCHEMA);
  for (const endpoint of ['responses', 'chat'] as const) {
    const output = join(dir, `${endpoint}.jsonl`);
    const db = join(dir, `${endpoint}.sqlite`);
    const s = await runBatch({ input: csv, output, db, template, schema, endpoint, system: 'You label reviews.', promptCacheKey: 'auto', baseUrl: sim.url, apiKey: 'k', ...fast });
    assert.equal(s.exitCode, 0, endpoint);
    const lines = readOutput(output) as (ReturnType<typeof readOutput>[number] & { parsed?: unknown })[];
    assert.ok(lines.every((l) => validate(l.parsed)), endpoint);
    const store = await openStore(db, { readonly: true });
    const bodies = (await store.jobsPage(-1, 100)).map((j) => JSON.parse(j.body!) as Record<string, any>);
    await store.close();
    if (endpoint === 'responses') {
      assert.deepEqual(bodies[0]!['input'][0], { role: 'developer', content: 'You label reviews.' });
      assert.deepEqual(bodies[0]!['text'].format.schema, REVIEW_SCHEMA);
      assert.match(bodies[0]!['prompt_cache_key'], /^sailbatch-[0-9a-f]{32}$/);
      assert.equal(new Set(bodies.map((b) => b['prompt_cache_key'])).size, 1, 'one key for the whole template');
    } else {
      assert.deepEqual(bodies[0]!['messages'][0], { role: 'developer', content: 'You label reviews.' });
      assert.deepEqual(bodies[0]!['response_format'].json_schema.schema, REVIEW_SCHEMA);
    }
  }
  await assert.rejects(
    runBatch({ input: csv, output: join(dir, 'm.jsonl'), template, endpoint: 'messages', system: 'x', baseUrl: sim.url, apiKey: 'k', ...fast, maxOutputTokens: 50 }),
    /does not accept a system prompt/,
  );
});
