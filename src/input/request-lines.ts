import { InspectedFile } from './inspected-file.ts';
import { scanJson } from './json-scan.ts';
import type { LineSource, SourceItem } from './line-source.ts';
import { normalizeLine, type LineDefaults } from './normalize.ts';

/**
 * A JSONL file of requests, one per line, in either shape of design.md (OpenAI Batch lines or
 * bare Responses bodies). Reads the raw bytes once, through the inspector (UTF-8, line length,
 * fingerprint) and split2; a blank line yields nothing.
 */
export class RequestLineSource implements LineSource {
  private readonly input: InspectedFile;

  constructor(
    readonly file: string,
    private readonly defaults: LineDefaults,
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

  async *items(): AsyncGenerator<SourceItem> {
    for await (const { line, text } of this.input.lines()) yield this.item(line, text);
  }

  private item(line: number, text: string): SourceItem {
    const invalid = (field: string, message: string): SourceItem => ({ kind: 'invalid', line, problems: [{ field, message }] });
    const problem = this.input.problem(line);
    if (problem) return invalid('', problem);
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
