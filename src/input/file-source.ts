import { InspectedFile } from './inspected-file.ts';

/** A JSONL line read as JSON, or why it is not: a byte problem of its line, or a parse error. */
export type ParsedLine = { ok: true; value: unknown } | { ok: false; message: string };

/**
 * What every source that reads one input file shares: the file read once through the
 * inspector, its progress in bytes and its fingerprint.
 */
export abstract class FileSource {
  protected readonly input: InspectedFile;

  constructor(
    readonly file: string,
    maxLineBytes: number,
  ) {
    this.input = new InspectedFile(file, maxLineBytes);
  }

  get bytesRead(): number {
    return this.input.bytesRead;
  }

  sha256(): string {
    return this.input.sha256();
  }

  /** One JSONL line as JSON; the inspector's finding on the line comes first. */
  protected parseLine(line: number, text: string): ParsedLine {
    const problem = this.input.problem(line);
    if (problem) return { ok: false, message: problem };
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      return { ok: false, message: `not valid JSON (${(e as Error).message})` };
    }
  }
}
