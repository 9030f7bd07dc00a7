/** What reads an input file once: its progress in bytes, and its fingerprint once read to the end. */
export interface FileReader {
  readonly bytesRead: number;
  sha256(): string;
}

/** What every source that reads one input file shares: the reader that reads it once, its progress and its fingerprint. */
export abstract class FileSource<R extends FileReader> {
  constructor(
    readonly file: string,
    protected readonly input: R,
  ) {}

  get bytesRead(): number {
    return this.input.bytesRead;
  }

  sha256(): string {
    return this.input.sha256();
  }
}
