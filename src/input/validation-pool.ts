import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { JobBatch } from './job-batch.ts';
import type { LineBlock } from './line-block.ts';
import { prepareBlock, type RequestLineOptions } from './request-block.ts';

/**
 * Blocks in flight per worker (half a MB): enough that the worker does not run dry while the main
 * thread stores a page of jobs, or waits for SQLite to checkpoint its WAL (8 blocks were 10%
 * slower at a million lines).
 */
const IN_FLIGHT_PER_WORKER = 32;

/**
 * A validation worker's heap, sized for peak RSS. Each MB of young generation is about a MB of
 * RSS: 4 MB scavenges four times as often as 16 MB (about 0.5 µs more per line) for 14 MB less
 * at a million lines. The old generation's cap is what V8 sizes its growth by: under 1 GB it
 * lets the heap grow to less than twice what is live between collections (a worker without a
 * cap grew to twice the RSS). A block the cap is too small for (a pathological line) is
 * prepared on the main thread instead.
 */
const WORKER_HEAP: ResourceLimits = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 512 };

/** The worker's entry beside this file: `.ts` when run from source (tests, through tsx), `.js` when built. */
const ENTRY = new URL(`./validation-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

function startWorker(o: RequestLineOptions, resourceLimits: ResourceLimits): Worker {
  if (ENTRY.pathname.endsWith('.ts')) {
    // Node 20 does not hand the loader hooks of `--import tsx` on to worker threads, so a worker
    // run from source registers tsx itself before it loads its TypeScript entry.
    const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
    const bootstrap = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ENTRY.href)}); });`;
    return new Worker(bootstrap, { eval: true, workerData: o, resourceLimits });
  }
  return new Worker(ENTRY, { workerData: o, resourceLimits });
}

/**
 * Validation workers, handed blocks in turn; their batches are taken back in the same order. A
 * worker that fails fails every batch still out.
 *
 * A batch waits in `back` until taken, and no longer: a promise per block resolved with its batch
 * would keep the batch reachable after use from wherever the promise was promoted to the old
 * generation, and the main thread's scavenges promoted nearly every batch that way, growing its
 * heap by 50 MB between full collections.
 */
class ValidationPool {
  private readonly workers: Worker[];
  private readonly back = new Map<number, JobBatch>();
  private sent = 0;
  private taken = 0;
  private failure: unknown;
  private closing = false;
  private wake: (() => void) | undefined;

  constructor(size: number, o: RequestLineOptions, heap: ResourceLimits) {
    this.workers = Array.from({ length: size }, () => {
      const w = startWorker(o, heap);
      w.on('message', ({ seq, batch }: { seq: number; batch: JobBatch }) => {
        this.back.set(seq, batch);
        this.notify();
      });
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (!this.closing) this.fail(new Error(`a validation worker stopped unexpectedly (exit code ${code})`));
      });
      return w;
    });
  }

  send(block: LineBlock): void {
    const seq = this.sent++;
    this.workers[seq % this.workers.length]!.postMessage({ seq, block });
  }

  /** The batch of the oldest block still out, once it is back. */
  async take(): Promise<JobBatch> {
    for (;;) {
      const batch = this.back.get(this.taken);
      if (batch !== undefined) {
        this.back.delete(this.taken++);
        return batch;
      }
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private fail(e: unknown): void {
    this.failure ??= e;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

const outOfMemory = (e: unknown) => (e as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';

/**
 * The blocks' jobs, prepared by `workers` worker threads and yielded in input order. Once a
 * worker runs out of memory, the blocks still out and the rest are prepared on the main thread,
 * as a small file's are. The workers are terminated however the caller stops: at the end, on an
 * error, or by leaving the loop.
 */
export async function* preparedInWorkers(
  blocks: AsyncIterable<LineBlock>,
  workers: number,
  o: RequestLineOptions,
  heap: ResourceLimits = WORKER_HEAP,
): AsyncGenerator<JobBatch> {
  const pool = new ValidationPool(workers, o, heap);
  // Blocks are copied to the workers, not moved, and kept until their batch is back.
  const out: LineBlock[] = [];
  let inline = false;
  const next = async (): Promise<JobBatch> => {
    const block = out.shift()!;
    if (!inline) {
      try {
        return await pool.take();
      } catch (e) {
        if (!outOfMemory(e)) throw e;
        inline = true;
      }
    }
    return prepareBlock(block, o);
  };
  try {
    for await (const block of blocks) {
      out.push(block);
      if (!inline) pool.send(block);
      if (out.length >= workers * IN_FLIGHT_PER_WORKER) yield await next();
    }
    while (out.length > 0) yield await next();
  } finally {
    await pool.close();
  }
}
