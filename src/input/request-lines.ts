import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { FileSource } from './file-source.ts';
import type { JobBatch } from './job-batch.ts';
import { LineBlockReader } from './line-block-reader.ts';
import type { LineSource } from './line-source.ts';
import { prepareBlock, type RequestLineOptions } from './request-block.ts';
import { preparedInWorkers } from './validation-pool.ts';

/**
 * Below this size a file is validated on the main thread: starting a worker and loading the
 * validation code into it would cost more than the work it takes over.
 */
const WORKERS_FROM_BYTES = 2 * 1024 * 1024;
/**
 * The main thread reads and stores, a worker validates, each on a core of its own: with two
 * cores a second worker would only take turns with the first. Each costs about 25 MB of RSS, so
 * more cores than three do not get more.
 */
const MAX_WORKERS = 2;

/**
 * A JSONL file of requests, one per line. The main thread reads it once (fingerprint, line
 * numbers, line length) in blocks of whole lines; the lines of each block become jobs in a
 * validation worker, or on the main thread when the file is small or there is one core.
 */
export class RequestLineSource extends FileSource<LineBlockReader> implements LineSource {
  constructor(
    file: string,
    private readonly o: RequestLineOptions,
    maxLineBytes: number,
    /** Validation workers; by default as many as pay off for the file's size and the cores. */
    private readonly workers?: number,
  ) {
    super(file, new LineBlockReader(file, maxLineBytes));
  }

  async *batches(): AsyncGenerator<JobBatch> {
    const workers = this.workers ?? (await this.workersFor());
    if (workers > 0) {
      yield* preparedInWorkers(this.input.blocks(), workers, this.o);
      return;
    }
    for await (const block of this.input.blocks()) yield prepareBlock(block, this.o);
  }

  private async workersFor(): Promise<number> {
    const cores = availableParallelism();
    // A file that cannot be stat'ed is left for the reader to report.
    const size = (await stat(this.file).catch(() => undefined))?.size ?? 0;
    return size >= WORKERS_FROM_BYTES ? Math.min(cores - 1, MAX_WORKERS) : 0;
  }
}
