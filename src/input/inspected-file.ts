import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FileReader } from './file-source.ts';
import { RawInspector } from './raw-inspector.ts';

/**
 * A CSV or TSV file read once through the byte inspector: its fingerprint (bytes, SHA-256), and
 * the problems of its physical lines (not UTF-8, too long).
 */
export class InspectedFile implements FileReader {
  private readonly inspector: RawInspector;

  constructor(
    readonly file: string,
    maxLineBytes: number,
  ) {
    this.inspector = new RawInspector(maxLineBytes);
  }

  get bytesRead(): number {
    return this.inspector.bytes;
  }

  sha256(): string {
    return this.inspector.digest();
  }

  /** The inspected bytes, piped into `into`; a read error ends `into` with it. */
  pipe<T extends NodeJS.WritableStream & Readable>(into: T): { out: T; close: () => void } {
    const source = createReadStream(this.file);
    const out = source.pipe(this.inspector).pipe(into);
    source.on('error', (e) => out.destroy(e));
    return { out, close: () => source.destroy() };
  }

  /** What the inspector found wrong on the physical lines `from`..`to`, taken once. */
  problem(from: number, to = from): string | undefined {
    for (let l = from; l <= to; l++) {
      const p = this.inspector.problems.get(l);
      if (p) {
        this.inspector.problems.delete(l);
        return p;
      }
    }
    return undefined;
  }
}
