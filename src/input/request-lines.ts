import { createReadStream } from 'node:fs';
import split2 from 'split2';
import { scanJson } from './json-scan.ts';
import type { LineSource, SourceItem } from './line-source.ts';
import { normalizeLine, type LineDefaults } from './normalize.ts';
import { RawInspector } from './raw-inspector.ts';

/**
 * A JSONL file of requests, one per line, in either shape of design.md (OpenAI Batch lines or
 * bare Responses bodies). Reads the raw bytes once, through the inspector (UTF-8, line length,
 * fingerprint) and split2; a blank line yields nothing.
 */
export class RequestLineSource implements LineSource {
  private readonly inspector: RawInspector;

  constructor(
    readonly file: string,
    private readonly defaults: LineDefaults,
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

  async *items(): AsyncGenerator<SourceItem> {
    const source = createReadStream(this.file);
    const lines = source.pipe(this.inspector).pipe(split2());
    source.on('error', (e) => lines.destroy(e));
    let line = 0;
    try {
      for await (const raw of lines as AsyncIterable<string>) {
        line++;
        const text = line === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
        if (text.trim() === '') continue;
        yield this.item(line, text);
      }
    } finally {
      source.destroy();
    }
  }

  private item(line: number, text: string): SourceItem {
    const invalid = (field: string, message: string): SourceItem => ({ kind: 'invalid', line, problems: [{ field, message }] });
    const problem = this.inspector.problems.get(line);
    if (problem) {
      this.inspector.problems.delete(line);
      return invalid('', problem);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return invalid('', `not valid JSON (${(e as Error).message})`);
    }
    const readable = (parsed as { custom_id?: unknown } | null)?.custom_id;
    const customId = typeof readable === 'string' && readable !== '' ? readable : undefined;
    const scan = scanJson(text);
    if (scan) return { kind: 'invalid', line, problems: [{ field: scan.path, message: scan.message }], customId };
    const result = normalizeLine(parsed, line, this.defaults);
    return result.ok ? { kind: 'request', line, request: result.value } : { kind: 'invalid', line, problems: result.problems, customId };
  }
}
