/**
 * A validation worker thread (validation-pool.ts starts it): it turns each block of request
 * lines it is sent into that block's jobs, and sends them back with the block's number.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { LineBlock } from './line-block.ts';
import { prepareBlock, type RequestLineOptions } from './request-block.ts';

const o = workerData as RequestLineOptions;
const port = parentPort!;
port.on('message', ({ seq, block }: { seq: number; block: LineBlock }) => {
  port.postMessage({ seq, batch: prepareBlock(block, o) });
});
