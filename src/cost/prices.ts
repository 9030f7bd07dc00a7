import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { COMPLETION_WINDOWS, type CompletionWindow } from '../api/completion-window.ts';
import { UsageError } from '../errors.ts';
import type { PriceTable, TokenPrices } from './price-table.ts';

/** The price table file's format (see price-table.ts for what the figures mean). */
const usd = z.number().finite().min(0);

const windowPrices = z
  .strictObject({ input: usd, cached_input: usd.optional(), output: usd, reasoning: usd.optional() })
  .transform((p): TokenPrices => ({ input: p.input, cached_input: p.cached_input ?? p.input, output: p.output, reasoning: p.reasoning ?? p.output }));

const modelPrices = z.partialRecord(z.enum(COMPLETION_WINDOWS), windowPrices);

const tableSchema = z.record(z.string().min(1), modelPrices);

/** `$comment` (as in JSON Schema) lets a table say what it is, e.g. that it is only an example. */
export function parsePriceTable(json: unknown, file: string): PriceTable {
  let models = json;
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const { $comment: _comment, ...rest } = json as Record<string, unknown>;
    models = rest;
  }
  const parsed = tableSchema.safeParse(models);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.map(String).join('.');
    throw new UsageError(
      `${file}: ${where ? `${where}: ` : ''}${issue.message}; a price table maps model → window (${COMPLETION_WINDOWS.join(', ')}) → ` +
        `{"input", "cached_input", "output"} in USD per 1M tokens (see fixtures/prices.example.json)`,
    );
  }
  const table = new Map<string, Map<CompletionWindow, TokenPrices>>();
  for (const [model, windows] of Object.entries(parsed.data)) {
    table.set(model, new Map(Object.entries(windows) as [CompletionWindow, TokenPrices][]));
  }
  return table;
}

export async function loadPriceTable(file: string): Promise<PriceTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--prices ${file}: cannot read the price table (${(e as { code?: string }).code ?? (e as Error).message})`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--prices ${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return parsePriceTable(json, file);
}
