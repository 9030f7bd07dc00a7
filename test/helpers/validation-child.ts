/**
 * Run as its own process by validation-pool.test.ts: loads a file through validation workers and
 * stops the load midway, by an abort (`abort`) or by a worker that fails (`fail`), then prints what
 * happened as one JSON line and returns. The process must then end by itself: a worker left
 * running would keep it alive.
 *
 *   node --import tsx test/helpers/validation-child.ts abort|fail <input.jsonl>
 */
import type { NewJob } from '../../src/checkpoint/store.ts';
import type { LineBlock } from '../../src/input/line-block.ts';
import { LineBlockReader } from '../../src/input/line-block-reader.ts';
import { loadJobs } from '../../src/input/loader.ts';
import { RequestLineSource } from '../../src/input/request-lines.ts';
import { preparedInWorkers } from '../../src/input/validation-pool.ts';

const [mode, file] = process.argv.slice(2) as ['abort' | 'fail', string];
const options = { defaults: { completionWindow: '24h' as const } };
let outcome: { error: string; message: string; batches?: number; stored?: number };

if (mode === 'abort') {
  const abort = new AbortController();
  let stored = 0;
  const sink = {
    insertJobs: async (jobs: readonly NewJob[]) => {
      stored += jobs.length;
      return [];
    },
    lineOfCustomId: async () => undefined,
  };
  const load = loadJobs(sink, new RequestLineSource(file, options, 1 << 20, 2), { skipInvalid: false, signal: abort.signal, onProgress: () => abort.abort() });
  const e = (await load.catch((err: unknown) => err)) as Error;
  outcome = { error: e.name, message: e.message, stored };
} else {
  // A block the worker cannot read: it throws on it, after preparing the blocks before it.
  async function* blocks(): AsyncGenerator<LineBlock> {
    for await (const block of new LineBlockReader(file, 1 << 20).blocks()) {
      const unreadable = { ...block, bytes: block.bytes.slice(), tooLong: 5 as unknown as number[] };
      yield block;
      yield unreadable;
    }
  }
  let batches = 0;
  try {
    for await (const _ of preparedInWorkers(blocks(), 2, options)) batches++;
    outcome = { error: 'none', message: '', batches };
  } catch (e) {
    outcome = { error: (e as Error).name, message: (e as Error).message, batches };
  }
}
console.log(JSON.stringify(outcome));
