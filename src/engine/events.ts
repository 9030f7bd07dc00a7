import { EventEmitter } from 'node:events';
import type { StateCounts } from '../checkpoint/store.ts';
import type { JobState } from '../checkpoint/job-states.ts';

export type RunPhase = 'loading' | 'running' | 'writing' | 'done' | 'stopping';

/** Everything the engine tells the outside world. The CLI's progress display is built on these only. */
export interface RunnerEventMap {
  'run:phase': [{ phase: RunPhase; message: string }];
  /** `throttledTo`: the limit 429s hold requests in flight to (as the checkpoint has it), or null when they do not. */
  'run:progress': [{ counts: StateCounts; total: number; inFlight: number; allowed: number; throttledTo: number | null; requests: RequestCounts }];
  'input:progress': [{ lines: number; bytes: number }];
  'job:submitted': [{ idx: number; line: number; customId: string; responseId: string; attempt: number }];
  'job:finished': [{ idx: number; line: number; customId: string; state: JobState; attempt: number; error?: string | undefined }];
  'request:retry': [{ method: string; path: string; retry: number; reason: string; delayMs: number; message: string }];
  'run:warning': [{ message: string }];
}

export interface RequestCounts {
  posts: number;
  gets: number;
  retries: number;
}

export type RunnerEvents = EventEmitter<RunnerEventMap>;

/** Emits without letting a throwing listener break the run. */
export function safeEmit<K extends keyof RunnerEventMap>(
  events: RunnerEvents | undefined,
  name: K,
  ...args: RunnerEventMap[K]
): void {
  if (!events) return;
  try {
    (events.emit as (n: K, ...a: RunnerEventMap[K]) => boolean)(name, ...args);
  } catch (e) {
    process.emitWarning(`sailbatch: a "${String(name)}" listener threw: ${(e as Error).message}`);
  }
}
