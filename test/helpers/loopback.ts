import type { TestContext } from 'node:test';
import { startSimulator, type SimOptionsInput, type Simulator } from '../../src/sim/simulator.ts';

/** The real simulator on 127.0.0.1 and a free port, stopped when the test ends. */
export async function simFor(t: TestContext, options: SimOptionsInput = {}): Promise<Simulator> {
  const sim = await startSimulator({ host: '127.0.0.1', port: 0, ...options });
  t.after(() => sim.stop());
  return sim;
}
