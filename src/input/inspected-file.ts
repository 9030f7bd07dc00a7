import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import split2 from 'split2';
import { RawInspector } from './raw-inspector.ts';

/**
 * An input file read once through the byte inspector: its fingerprint (bytes, SHA-256), and the
 * problems of its physical lines (not UTF-8, too long), for every source that reads a file.
 */
export class InspectedFile {
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

  /** The non-blank lines with their 1-based physical numbers (a UTF-8 BOM dropped). */
  async *lines(): AsyncGenerator<{ line: number; text: string }> {
    const { out, close } = this.pipe(split2());
    let line = 0;
    try {
      for await (const raw of out as AsyncIterable<string>) {
        line++;
        const text = line === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
        if (text.trim() !== '') yield { line, text };
      }
    } finally {
      close();
    }
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
