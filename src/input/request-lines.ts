import { FileSource } from './file-source.ts';
import { scanJson } from './json-scan.ts';
import type { LineSource, SourceItem } from './line-source.ts';
import { normalizeLine, type LineDefaults } from './normalize.ts';

/**
 * A JSONL file of requests, one per line, in either shape of design.md (OpenAI Batch lines or
 * bare Responses bodies). Reads the raw bytes once, through the inspector (UTF-8, line length,
 * fingerprint) and split2; a blank line yields nothing.
 */
export class RequestLineSource extends FileSource implements LineSource {
  constructor(
    file: string,
    private readonly defaults: LineDefaults,
    maxLineBytes: number,
  ) {
    super(file, maxLineBytes);
  }

  async *items(): AsyncGenerator<SourceItem> {
    for await (const { line, text } of this.input.lines()) yield this.item(line, text);
  }

  private item(line: number, text: string): SourceItem {
    const json = this.parseLine(line, text);
    if (!json.ok) return { kind: 'invalid', line, problems: [{ field: '', message: json.message }] };
    const parsed = json.value;
    const readable = (parsed as { custom_id?: unknown } | null)?.custom_id;
    const customId = typeof readable === 'string' && readable !== '' ? readable : undefined;
    const scan = scanJson(text, parsed);
    if (scan) return { kind: 'invalid', line, problems: [{ field: scan.path, message: scan.message }], customId };
    const result = normalizeLine(parsed, line, this.defaults);
    return result.ok ? { kind: 'request', line, request: result.value } : { kind: 'invalid', line, problems: result.problems, customId };
  }
}
