import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCount } from '../src/human-format.ts';

test('formatCount groups digits as en-US does, for every whole count a batch can have', () => {
  const samples = [0, 1, 12, 123, 999, 1_000, 12_345, 999_999, 1_000_000, 1_234_567_890, Number.MAX_SAFE_INTEGER, -1, -999, -1_000, -1_234_567];
  for (const n of samples) assert.equal(formatCount(n), n.toLocaleString('en-US'), `${n}`);
});

test('formatCount rounds to the nearest whole number first', () => {
  assert.equal(formatCount(1_234.4), '1,234');
  assert.equal(formatCount(999.5), '1,000');
  assert.equal(formatCount(0.49), '0');
});
