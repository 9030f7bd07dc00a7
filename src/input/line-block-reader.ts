import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FileReader } from './file-source.ts';
import type { LineBlock } from './line-block.ts';

const NEWLINE = 0x0a;
/** What a dropped line becomes in its block: one byte that is not blank, and its newline. */
const DROPPED_LINE = Buffer.from('\u0000\n');
/** Bytes read at a time. */
const READ_BYTES = 256 * 1024;
/**
 * About the size of a block: big enough that handing a block to a worker costs little next to
 * validating its ~90 lines, small enough that a block and its jobs rarely outlive a scavenge of
 * the worker's small young generation (validation-pool.ts).
 */
const BLOCK_BYTES = 16 * 1024;

/**
 * Reads a JSONL file once, on raw bytes, and cuts it into blocks of whole lines for whoever turns
 * lines into jobs. On the way it
 * - hashes and counts every byte (the input fingerprint of the checkpoint);
 * - numbers the lines (a newline ends one), so that a block knows its first line's number;
 * - drops the content of lines longer than `maxLineBytes`, so memory stays bounded, keeping a
 *   placeholder in their place and their numbers in the block.
 * Everything else about a line (UTF-8, BOM, CR, blank) is the block decoder's (line-block.ts),
 * which runs where the lines are validated.
 */
export class LineBlockReader implements FileReader {
  bytesRead = 0;
  private readonly hash = createHash('sha256');

  constructor(
    readonly file: string,
    private readonly maxLineBytes: number,
  ) {}

  /** The input's SHA-256, once blocks() has been read to the end. */
  sha256(): string {
    return this.hash.digest('hex');
  }

  async *blocks(): AsyncGenerator<LineBlock> {
    const max = this.maxLineBytes;
    const stream = createReadStream(this.file, { highWaterMark: READ_BYTES });
    /** The line the next byte belongs to. */
    let line = 1;
    let firstLine = 1;
    let parts: Uint8Array[] = [];
    let size = 0;
    let tooLong: number[] = [];
    /** The start of the current line, read in earlier chunks; dropped once the line is too long. */
    let partial: Buffer[] = [];
    let lineLen = 0;
    let overflow = false;

    const keep = (b: Uint8Array) => {
      if (b.length === 0) return;
      parts.push(b);
      size += b.length;
    };
    const cut = (): LineBlock => {
      // A buffer of its own: handing a view to a worker copies the whole buffer under it.
      const bytes = new Uint8Array(size);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      const block = { firstLine, bytes, tooLong, maxLineBytes: max };
      firstLine = line;
      parts = [];
      size = 0;
      tooLong = [];
      return block;
    };

    try {
      for await (const read of stream as AsyncIterable<Buffer>) {
        this.hash.update(read);
        this.bytesRead += read.length;
        for (let at = 0; at < read.length; at += BLOCK_BYTES) {
          const chunk = read.subarray(at, at + BLOCK_BYTES);
          /** Where the bytes of this chunk that are kept start; -1 while a too-long line is being skipped. */
          let runStart = overflow ? -1 : 0;
          let pos = 0;
          for (;;) {
            const nl = chunk.indexOf(NEWLINE, pos);
            const end = nl === -1 ? chunk.length : nl;
            lineLen = (pos === 0 ? lineLen : 0) + end - pos;
            if (!overflow && lineLen > max) {
              overflow = true;
              keep(chunk.subarray(runStart, pos));
              partial = [];
              runStart = -1;
            }
            if (nl === -1) {
              if (runStart !== -1) {
                keep(chunk.subarray(runStart, pos));
                if (pos < chunk.length) partial.push(chunk.subarray(pos));
              }
              break;
            }
            if (pos === 0 && partial.length > 0) {
              for (const p of partial) keep(p);
              partial = [];
            }
            if (overflow) {
              keep(DROPPED_LINE);
              tooLong.push(line);
              overflow = false;
              runStart = nl + 1;
            }
            line++;
            lineLen = 0;
            pos = nl + 1;
          }
          if (size > 0) yield cut();
        }
      }
      // The last line, without a newline.
      if (overflow) {
        keep(DROPPED_LINE.subarray(0, 1));
        tooLong.push(line);
      }
      for (const p of partial) keep(p);
      if (size > 0) yield cut();
    } finally {
      stream.destroy();
    }
  }
}
