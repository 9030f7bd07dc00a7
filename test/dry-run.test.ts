import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DryRunReport } from '../src/engine/dry-run.ts';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { writeMixedWorkload } from './helpers/mixed-workload.ts';
import { testDir } from './helpers/tmp.ts';

const PRICES = join(import.meta.dirname, '..', 'fixtures', 'prices.example.json');

type Prices = Record<string, Record<string, { input: number; cached_input: number; output: number }>>;

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, expected), `${what}: ${actual}, expected ${expected}`);

test('--dry-run on 10,000 mixed lines: no request, no file, o200k token counts and a cost range equal to a hand computation', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'mixed.jsonl');
  const lines = writeMixedWorkload(input, 10_000);
  const DEFAULT_CAP = 64;
  const before = readdirSync(dir).sort();

  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--dry-run', '--json', '--prices', PRICES, '--max-output-tokens', String(DEFAULT_CAP)]);
  assert.equal(r.code, 0, r.stderr);
  const stats = sim.stats();
  assert.equal(stats.posts + stats.gets, 0, 'a dry run sends no request of any kind, not even GET /models');
  assert.deepEqual(readdirSync(dir).sort(), before, 'a dry run writes no output and no checkpoint');

  const report = JSON.parse(r.stdout) as DryRunReport;
  const prices = JSON.parse(readFileSync(PRICES, 'utf8')) as Prices;
  const expected = new Map<string, { requests: number; tokens: number; cap: number }>();
  let low = 0;
  let high = 0;
  for (const l of lines) {
    const key = `${l.endpoint} ${l.model} ${l.window}`;
    const e = expected.get(key) ?? { requests: 0, tokens: 0, cap: 0 };
    const cap = l.cap ?? DEFAULT_CAP;
    expected.set(key, { requests: e.requests + 1, tokens: e.tokens + l.tokens, cap: e.cap + cap });
    const p = prices[l.model]![l.window]!;
    low += (l.tokens * p.input) / 1e6;
    high += (l.tokens * p.input + cap * p.output) / 1e6;
  }
  assert.equal(report.groups.length, expected.size);
  for (const g of report.groups) {
    const e = expected.get(`${g.endpoint} ${g.model} ${g.completionWindow}`);
    assert.ok(e, `unexpected group ${g.endpoint} ${g.model} ${g.completionWindow}`);
    assert.deepEqual([g.requests, g.inputTokens, g.outputTokenCap, g.uncapped], [e.requests, e.tokens, e.cap, 0], `${g.endpoint} ${g.model} ${g.completionWindow}`);
    assert.equal(g.inputTokensExact, g.model.startsWith('openai/gpt-oss-'));
  }
  assert.equal(report.totals.requests, 10_000);
  assert.equal(report.totals.inputTokens, lines.reduce((n, l) => n + l.tokens, 0));
  close(report.totals.cost!.low, low, 'cost low');
  close(report.totals.cost!.high!, high, 'cost high');
  assert.deepEqual(report.estimatedModels, ['moonshotai/Kimi-K2.5']);

  // The same work in each window of the table, computed by hand.
  for (const w of ['asap', '15m', '24h']) {
    let wl = 0;
    let wh = 0;
    for (const l of lines) {
      const p = prices[l.model]![w]!;
      wl += (l.tokens * p.input) / 1e6;
      wh += (l.tokens * p.input + (l.cap ?? DEFAULT_CAP) * p.output) / 1e6;
    }
    const got = report.byWindow!.find((x) => x.completionWindow === w)!;
    close(got.cost!.low, wl, `${w} low`);
    close(got.cost!.high!, wh, `${w} high`);
  }
});

test('--dry-run in words: a table per endpoint × model × window, "no cap" where a line sets none, estimates marked', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  writeMixedWorkload(input, 30);
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--dry-run', '--prices', PRICES], { SAIL_API_KEY: '' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Nothing was sent and nothing was written\./);
  assert.match(r.stdout, /^endpoint\s+model\s+window\s+requests\s+input tokens\s+output cap\s+cost \(USD\)$/m);
  assert.match(r.stdout, /^\/v1\/chat\/completions\s+moonshotai\/Kimi-K2\.5\s+\S+\s+\d+\s+~\d+\s+no cap\s+\$[\d.]+ \+ uncapped output$/m);
  assert.match(r.stdout, /^\/v1\/messages\s+openai\/gpt-oss-20b\s+\S+\s+\d+\s+\d+\s+\d+\s+\$[\d.]+–\$[\d.]+$/m);
  assert.match(r.stdout, /"~" marks an estimate \(moonshotai\/Kimi-K2\.5 uses another tokenizer\)/);
  assert.match(r.stdout, /the same requests, all in one window:\n {2}asap .*\n {2}15m .*\n {2}24h /);
  assert.deepEqual(readdirSync(dir), ['in.jsonl']);
});

test('--dry-run validates as a run does: a bad line fails it (exit 2), and --skip-invalid counts the rest', async (t) => {
  const dir = testDir(t);
  const input = join(dir, 'in.jsonl');
  writeFileSync(input, '{"input": "ok", "model": "openai/gpt-oss-20b"}\n{"input": "hot", "model": "openai/gpt-oss-20b", "temperature": 3}\n');
  const bad = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--dry-run']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /in\.jsonl:2: temperature: must be <= 2 \(got 3\)/);
  const skipped = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--dry-run', '--skip-invalid', '--json']);
  assert.equal(skipped.code, 0, skipped.stderr);
  const report = JSON.parse(skipped.stdout) as DryRunReport;
  assert.deepEqual([report.jobs, report.invalid, report.totals.requests], [1, 1, 1]);
  assert.deepEqual(readdirSync(dir), ['in.jsonl']);
});

test('retry --dry-run counts what retry would send again, reading the checkpoint without changing it or sending anything', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t, { faults: { failRate: 0.3 } });
  const input = join(dir, 'in.jsonl');
  writeMixedWorkload(input, 60);
  const output = join(dir, 'out.jsonl');
  const common = ['-o', output, '--base-url', sim.url, '--max-output-tokens', '64'];
  const first = await runCli(['run', input, ...common, '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0']);
  assert.equal(first.code, 1, first.stderr);
  const failed = readFileSync(output, 'utf8').split('\n').filter((l) => l.includes('"error":{')).length;
  assert.ok(failed > 0);
  const db = `${output}.checkpoint.sqlite`;
  const before = { stats: sim.stats(), db: readFileSync(db) };

  const r = await runCli(['retry', input, ...common, '--dry-run', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DryRunReport;
  assert.equal(report.source, 'checkpoint');
  assert.equal(report.jobs, 60);
  assert.equal(report.totals.requests, failed);
  assert.deepEqual(sim.stats(), before.stats, 'nothing sent');
  assert.ok(readFileSync(db).equals(before.db), 'the checkpoint is unchanged');

  const plain = await runCli(['run', input, ...common, '--dry-run', '--json']);
  assert.equal((JSON.parse(plain.stdout) as DryRunReport).totals.requests, 0, 'a rerun without retry has nothing left to send');
});
