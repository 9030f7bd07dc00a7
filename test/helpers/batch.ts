import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { SimOptionsInput } from '../../src/sim/simulator.ts';
import { simFor } from './loopback.ts';
import { testDir } from './tmp.ts';
import { writeWorkload } from './workload.ts';

/**
 * The usual start of an end-to-end test: a temp folder, a simulator on loopback, an n-line
 * workload as `in.jsonl` and `out.jsonl` as the output path, all cleaned up with the test.
 */
export async function workloadFor(t: TestContext, lines: number, o: { sim?: SimOptionsInput; windows?: readonly string[] } = {}) {
  const dir = testDir(t);
  const sim = await simFor(t, o.sim);
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  const expected = writeWorkload(input, lines, o.windows);
  return { dir, sim, input, output, expected };
}
