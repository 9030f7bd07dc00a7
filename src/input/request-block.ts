import { JobBatchWriter, type JobBatch } from './job-batch.ts';
import { scanJson } from './json-scan.ts';
import { forEachLine, parseJsonLine, type LineBlock } from './line-block.ts';
import type { SourceItem } from './line-source.ts';
import { hasUnpairedSurrogate, normalizeLine, type LineDefaults } from './normalize.ts';
import { prepareItem, type PrepareOptions } from './prepare-jobs.ts';

export interface RequestLineOptions extends PrepareOptions {
  defaults: LineDefaults;
}

/** The custom_id an invalid line's error line keeps, when the line has one that can be stored as it is. */
function readableCustomId(parsed: unknown): string | undefined {
  const id = (parsed as { custom_id?: unknown } | null)?.custom_id;
  return typeof id === 'string' && id !== '' && !hasUnpairedSurrogate(id) ? id : undefined;
}

/** One non-blank request line, in either shape of design.md (OpenAI Batch line, bare body), into its request or why it cannot be one. */
export function requestItem(line: number, text: string, defaults: LineDefaults): SourceItem {
  const json = parseJsonLine(text);
  if (!json.ok) return { kind: 'invalid', line, problems: [{ field: '', message: json.message }] };
  const parsed = json.value;
  const scan = scanJson(text, parsed);
  if (scan) return { kind: 'invalid', line, problems: [{ field: scan.path, message: scan.message }], customId: readableCustomId(parsed) };
  const result = normalizeLine(parsed, line, defaults);
  return result.ok ? { kind: 'request', line, request: result.value } : { kind: 'invalid', line, problems: result.problems, customId: readableCustomId(parsed) };
}

/** The jobs of every line of a block: what a validation worker does with each block it is given. */
export function prepareBlock(block: LineBlock, o: RequestLineOptions): JobBatch {
  const out = new JobBatchWriter();
  forEachLine(block, (l) => {
    const item: SourceItem =
      l.problem === undefined ? requestItem(l.line, l.text, o.defaults) : { kind: 'invalid', line: l.line, problems: [{ field: '', message: l.problem }] };
    prepareItem(item, o, out);
  });
  return out.take();
}
