import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Simulator } from '../../src/sim/simulator.ts';
import type { CliResult } from './cli.ts';

/**
 * SIGKILLs a running CLI once the simulator has started `inferences` inferences in all, and
 * returns how it ended. A kill tied to progress, not to a delay, lands mid-run on a fast machine
 * and a loaded one alike (a run cannot finish while inferences are still to start).
 */
export async function killAtInferences(child: ChildProcess & { result: Promise<CliResult> }, sim: Simulator, inferences: number): Promise<CliResult> {
  let ended = false;
  void child.result.then(() => (ended = true));
  while (!ended && sim.stats().inferences < inferences) await sleep(5);
  if (!ended) child.kill('SIGKILL');
  return child.result;
}
