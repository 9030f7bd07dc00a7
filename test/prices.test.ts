import assert from 'node:assert/strict';
import { test } from 'node:test';
import { usageCost, workCost } from '../src/cost/cost.ts';
import { pricedWindows, pricesFor } from '../src/cost/price-table.ts';
import { parsePriceTable } from '../src/cost/prices.ts';

test('a price table finds a window under either vocabulary, and defaults cached and reasoning prices', () => {
  const t = parsePriceTable(
    { $comment: 'example', m: { priority: { input: 1, output: 4 }, '24h': { input: 0.5, cached_input: 0.1, output: 2, reasoning: 1 } } },
    'p.json',
  );
  assert.deepEqual(pricesFor(t, 'm', 'asap'), { input: 1, cached_input: 1, output: 4, reasoning: 4 });
  assert.deepEqual(pricesFor(t, 'm', 'flex'), { input: 0.5, cached_input: 0.1, output: 2, reasoning: 1 });
  assert.equal(pricesFor(t, 'm', '15m'), undefined);
  assert.equal(pricesFor(t, 'other', 'asap'), undefined);
  assert.deepEqual(pricedWindows(t, 'm'), ['priority', '24h']);
});

test('a bad price table names the file, the field and the expected shape', () => {
  assert.throws(() => parsePriceTable({ m: { asap: { input: -1, output: 2 } } }, 'p.json'), /^UsageError: p\.json: m\.asap\.input: .*USD per 1M tokens/);
  assert.throws(() => parsePriceTable({ m: { someday: { input: 1, output: 2 } } }, 'p.json'), /p\.json: m: .*"someday"/);
  assert.throws(() => parsePriceTable({ m: { asap: { input: 1, outptu: 2 } } }, 'p.json'), /p\.json: m\.asap/);
  assert.throws(() => parsePriceTable([], 'p.json'), /p\.json: /);
});

test('usage is priced part by part: cached input and reasoning output at their own rates', () => {
  const p = { input: 2, cached_input: 0.5, output: 8, reasoning: 4 };
  // 1000 input of which 400 cached; 300 output of which 100 reasoning.
  const usd = usageCost(p, { input: 1000, cached: 400, output: 300, reasoning: 100 });
  assert.equal(usd, (600 * 2 + 400 * 0.5 + 200 * 8 + 100 * 4) / 1e6);
  assert.deepEqual(workCost(p, 1000, 300), { low: 2000 / 1e6, high: (2000 + 2400) / 1e6 });
  assert.deepEqual(workCost(p, 1000, null), { low: 2000 / 1e6, high: null });
});
