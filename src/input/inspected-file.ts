import { Readable } from 'node:stream';
import type { FileReader } from './file-source.ts';
import { lineProblems } from './line-block.ts';
import { LineBlockReader } from './line-block-reader.ts';

/**
 * A CSV or TSV file read once, as a JSONL file is (LineBlockReader: its fingerprint, and lines
 * longer than the limit left as a placeholder), for a parser that takes a byte stream: it decodes
 * with a StringDecoder, which silently turns invalid UTF-8 into U+FFFD, and buffers any record
 * however long. The problems of the physical lines (not UTF-8, too long) are kept by line number
 * for the reader, recorded before the parser is handed the line, so before it can emit the record.
 */
export class InspectedFile implements FileReader {
  private readonly reader: LineBlockReader;
  private readonly problems = new Map<number, string>();

  constructor(
    readonly file: string,
    maxLineBytes: number,
  ) {
    this.reader = new LineBlockReader(file, maxLineBytes);
  }

  get bytesRead(): number {
    return this.reader.bytesRead;
  }

  sha256(): string {
    return this.reader.sha256();
  }

  /** The file's bytes, piped into `into`; a read error ends `into` with it. */
  pipe<T extends NodeJS.WritableStream & Readable>(into: T): { out: T; close: () => void } {
    const source = Readable.from(this.bytes(), { objectMode: false });
    const out = source.pipe(into);
    source.on('error', (e) => out.destroy(e));
    return { out, close: () => source.destroy() };
  }

  private async *bytes(): AsyncGenerator<Uint8Array> {
    for await (const block of this.reader.blocks()) {
      for (const [line, problem] of lineProblems(block)) this.problems.set(line, problem);
      yield block.bytes;
    }
  }

  /** What was found wrong on the physical lines `from`..`to`, taken once. */
  problem(from: number, to = from): string | undefined {
    for (let l = from; l <= to; l++) {
      const p = this.problems.get(l);
      if (p) {
        this.problems.delete(l);
        return p;
      }
    }
    return undefined;
  }
}
