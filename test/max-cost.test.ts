import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { SpendBudget } from '../src/cost/budget.ts';
import { resultTokens } from '../src/cost/usage.ts';
import { countTokens as simTokens } from '../src/sim/deterministic.ts';
import { parsePriceTable } from '../src/cost/prices.ts';
import { runCli, spawnCli, waitForOutput } from './helpers/cli.ts';
import { batchStatus } from '../src/checkpoint/batch-status.ts';
import { defaultDbPath } from '../src/options.ts';
import { usageOf } from './helpers/usage.ts';
import { MODEL, mismatches, readOutput, writeWorkload, type OutputLine } from './helpers/workload.ts';
import { simFor } from './helpers/loopback.ts';
import type { SimOptionsInput } from '../src/sim/simulator.ts';
import { testDir } from './helpers/tmp.ts';

const PRICE = { input: 100, output: 400 };
const CAP = 24;
const fast = ['--poll-interval', '20ms', '--max-poll-interval', '100ms', '--max-rps', '0', '--concurrency', '8'];

/** A simulator, and an input, an output and a price table (`price`, PRICE by default, for MODEL in asap) in a fresh folder. */
async function budgeted(t: TestContext, o: { price?: typeof PRICE; sim?: SimOptionsInput } = {}) {
  const dir = testDir(t);
  const sim = await simFor(t, o.sim);
  const prices = join(dir, 'prices.json');
  writeFileSync(prices, JSON.stringify({ [MODEL]: { asap: o.price ?? PRICE } }));
  return { dir, sim, input: join(dir, 'in.jsonl'), output: join(dir, 'out.jsonl'), prices };
}

/** `n` requests whose answers (echoes of about a dozen words) run past an output cap of 3 tokens. */
function writeSummaryRequests(input: string, n: number): void {
  writeFileSync(input, Array.from({ length: n }, (_, i) => JSON.stringify({ custom_id: `c${i}`, model: MODEL, input: `Please summarise paragraph ${i} about the weather in spring`, metadata: { completion_window: 'asap' } })).join('\n'));
}

test('--max-cost at about half: sending stops within the cap (in-flight reservations counted), exit 1; a higher cap finishes with one inference per line', async (t) => {
  const { sim, input, output, prices } = await budgeted(t);
  const n = 120;
  const expected = writeWorkload(input, n, ['asap']);
  // What the whole file costs at the simulator, whose usage counts words: half of it is the cap.
  const full = expected.reduce((usd, e, i) => usd + (simTokens(`Question ${i}: what is ${i} squared?`) * PRICE.input + simTokens(e.text) * PRICE.output) / 1e6, 0);
  const cap = Number((full / 2).toFixed(6));
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--prices', prices, '--max-output-tokens', String(CAP), ...fast];

  const first = await runCli([...args, '--max-cost', String(cap)]);
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, /spending cap reached: \$[\d.]+ spent of the \$[\d.]+ cap/);
  assert.match(first.stderr, /rerun .*--max-cost/);
  // What the output's answers cost, priced from the usage the simulator reported.
  const spentIn = (lines: OutputLine[]) =>
    lines.filter((l) => l.error === null).reduce((usd, l) => {
      const u = usageOf(l.response!.body);
      return usd + (u.input * PRICE.input + u.output * PRICE.output) / 1e6;
    }, 0);
  const out = readOutput(output);
  assert.equal(out.length, n, 'the output has a line for every input line');
  const sent = out.filter((l) => l.error === null).length;
  const held = out.filter((l) => l.error?.code === 'not_sent_budget').length;
  assert.equal(sent + held, n);
  assert.ok(sent > 0 && held > 0, `${sent} sent, ${held} held back`);
  assert.equal(sim.stats().inferences, sent);
  assert.ok(spentIn(out) <= cap, `spent ${spentIn(out)} > cap ${cap}`);

  // The same cap again: what the first run spent counts, so what is spent over both stays within it
  // (the first run stopped while reservations of jobs in flight were still larger than their cost).
  const again = await runCli([...args, '--max-cost', String(cap)]);
  assert.equal(again.code, 1, again.stderr);
  const both = readOutput(output);
  assert.ok(spentIn(both) <= cap, `spent ${spentIn(both)} over two runs > cap ${cap}`);
  assert.equal(sim.stats().inferences, both.filter((l) => l.error === null).length);
  assert.ok(both.some((l) => l.error?.code === 'not_sent_budget'));

  // A job holds its reservation until its answer is in, at the server too, and on a fast machine
  // the rest can all be sent before the first poll: the cap that lets them finish admits every
  // line's reservation at once (input over-counted at 200 tokens), on top of what was spent.
  const ample = cap + (n * (200 * PRICE.input + CAP * PRICE.output)) / 1e6;
  const rest = await runCli([...args, '--max-cost', String(ample)]);
  assert.equal(rest.code, 0, rest.stderr);
  assert.deepEqual(mismatches(readOutput(output), expected), []);
  const stats = sim.stats();
  assert.equal(stats.inferences, n, 'exactly one inference per line over all runs');
  assert.equal(stats.duplicateInferences, 0);

  // The actual cost, priced from the stored usage, in the summary and in status.
  const final = spentIn(readOutput(output));
  assert.match(rest.stderr, new RegExp(`cost: \\$${final.toPrecision(3).replace('.', '\\.')} from the usage the server reported`));
  const status = await runCli(['status', '--db', `${output}.checkpoint.sqlite`, '--json', '--prices', prices]);
  assert.equal(status.code, 0, status.stderr);
  const cost = (JSON.parse(status.stdout) as { cost: { usd: number; unpriced: unknown[] } }).cost;
  assert.ok(Math.abs(cost.usd - final) < 1e-9, `status cost ${cost.usd}, by hand ${final}`);
  assert.deepEqual(cost.unpriced, []);
});

test('a run resumed under --max-cost counts the reservations of the jobs an earlier run left out at the server', async (t) => {
  // Held at the server: the jobs the first run sends stay out until the test lets them finish.
  // Only output is priced, and every answer runs past its cap of 3 tokens (the simulator cuts it
  // there), so a job costs exactly its reservation: one that finishes frees no room for another.
  const { sim, input, output, prices } = await budgeted(t, {
    price: { input: 0, output: PRICE.output },
    sim: { latencyMs: { asap: 600_000, standard: 600_000, flex: 600_000 } },
  });
  const perJob = (3 * PRICE.output) / 1e6;
  const n = 200;
  writeSummaryRequests(input, n);
  const args = ['run', input, '-o', output, '--base-url', sim.url, '--prices', prices, '--max-output-tokens', '3', '--poll-interval', '20ms', '--max-poll-interval', '100ms', '--concurrency', '4', '--log-every', '100ms'];

  // Paced, so that it stops with jobs out at the server and most of them still to send.
  const first = spawnCli([...args, '--max-rps', '10', '--max-cost', '1']);
  await waitForOutput(first, /(?:^|\D)(?:[3-9]|[1-9]\d+) at the server/);
  first.kill('SIGINT');
  assert.equal((await first.result).code, 130);
  const { counts } = await batchStatus(defaultDbPath(output));
  const out = counts.submitted;
  assert.ok(out >= 3 && counts.pending > 0, JSON.stringify(counts));
  const posts = sim.stats().posts;

  // Room for the jobs out and half of one more: without their reservations it would send as many again.
  sim.setLatency({ asap: 30, standard: 30, flex: 30 });
  const rest = await runCli([...args, '--max-rps', '0', '--max-cost', String(perJob * (out + 0.5))]);
  assert.equal(rest.code, 1, rest.stderr);
  assert.equal(sim.stats().posts, posts, 'nothing more was sent: the jobs already out took the cap');
  const lines = readOutput(output);
  // The jobs that were out finished, each cut at its cap (what it was charged for); the rest were held back.
  assert.deepEqual(lines.filter((l) => l.error?.code !== 'not_sent_budget').map((l) => l.error?.code), Array(out).fill('incomplete'));
  assert.equal(lines.length, n);
});

test('--max-cost is refused without --prices, and for lines without an output cap', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 3, ['asap']);
  const prices = join(dir, 'prices.json');
  writeFileSync(prices, JSON.stringify({ [MODEL]: { asap: PRICE } }));
  const noPrices = await runCli(['run', input, '-o', join(dir, 'o.jsonl'), '--base-url', sim.url, '--max-cost', '1']);
  assert.equal(noPrices.code, 2, noPrices.stderr);
  assert.match(noPrices.stderr, /--max-cost needs --prices/);
  const uncapped = await runCli(['run', input, '-o', join(dir, 'o.jsonl'), '--base-url', sim.url, '--max-cost', '1', '--prices', prices]);
  assert.equal(uncapped.code, 2, uncapped.stderr);
  assert.match(uncapped.stderr, /3 requests set no output cap.*--max-output-tokens/);
  assert.equal(sim.stats().posts, 0);
});

test('the budget admits a job only if spent + every reservation held + its own stays within the cap', () => {
  const prices = parsePriceTable({ m: { asap: { input: 1_000_000, output: 1_000_000 } } }, 'p.json');
  // 1 USD per token: a job of "a b" (2 tokens with o200k) capped at 3 output tokens reserves 5 USD.
  const job = (idx: number) => ({ idx, url: '/v1/responses', completionWindow: 'asap', body: JSON.stringify({ model: 'm', input: 'a b', max_output_tokens: 3 }) });
  const b = new SpendBudget(prices, 14, 1);
  assert.equal(b.reservation(job(0)), countTokens('a b') + 3);
  assert.equal(b.tryReserve(job(0)), true);
  assert.equal(b.tryReserve(job(1)), true);
  assert.equal(b.committed, 1 + 2 * b.reservation(job(0)));
  assert.equal(b.tryReserve(job(2)), false, 'a third would pass the cap while two are held');
  b.settle(0, resultTokens({ usage: { input_tokens: 2, output_tokens: 1 } }));
  assert.equal(b.spent, 1 + 3);
  assert.equal(b.tryReserve(job(2)), true, 'a finished job frees the part of its reservation it did not use');
});

test('--max-cost holds when answers would run past their output cap: the simulator cuts them there, as the reservation assumes', async (t) => {
  const { sim, input, output, prices } = await budgeted(t);
  // Echoes of these prompts are about a dozen words: four times the cap of 3 output tokens.
  const n = 40;
  writeSummaryRequests(input, n);
  const perJob = (countTokens('Please summarise paragraph 10 about the weather in spring') * PRICE.input + 3 * PRICE.output) / 1e6;
  const cap = Number((perJob * n * 0.5).toFixed(6));
  const r = await runCli(['run', input, '-o', output, '--base-url', sim.url, '--prices', prices, '--max-output-tokens', '3', '--max-cost', String(cap), ...fast]);
  assert.equal(r.code, 1, r.stderr);
  const out = readOutput(output);
  const paid = out.filter((l) => l.response?.body && (l.response.body as { usage?: unknown }).usage);
  assert.equal(paid.length, sim.stats().inferences);
  assert.ok(paid.length > 0 && out.some((l) => l.error?.code === 'not_sent_budget'), `${paid.length} paid`);
  const spent = paid.reduce((usd, l) => {
    const u = usageOf(l.response!.body);
    assert.ok(u.output <= 3, `${l.custom_id}: ${u.output} output tokens billed for a cap of 3`);
    return usd + (u.input * PRICE.input + u.output * PRICE.output) / 1e6;
  }, 0);
  assert.ok(spent <= cap, `spent ${spent} > cap ${cap}`);
});
