import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { COMPLETION_WINDOWS, sameWindow, type CompletionWindow } from '../api/completion-window.ts';
import { UsageError } from '../errors.ts';

/**
 * A price table: model → completion window → USD per 1M tokens. Sail bills by model and by how
 * long the caller lets it take, so the same work has a price per window; the table is the user's
 * (their contract, today's list), sailbatch ships only an example of the format. A window may be
 * named in either vocabulary (`asap` or `priority`, ...); a line's window finds its price under
 * either name.
 */
export interface TokenPrices {
  /** USD per 1M input tokens. */
  input: number;
  /** USD per 1M input tokens served from the prompt cache. @default input */
  cached_input: number;
  /** USD per 1M output tokens. */
  output: number;
  /** USD per 1M reasoning tokens (a part of output). @default output */
  reasoning: number;
}

export type PriceTable = ReadonlyMap<string, ReadonlyMap<CompletionWindow, TokenPrices>>;

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

/** The prices of `model` in `window`, under the window's own name or its other-vocabulary twin. */
export function pricesFor(table: PriceTable, model: string, window: CompletionWindow): TokenPrices | undefined {
  const windows = table.get(model);
  if (!windows) return undefined;
  const exact = windows.get(window);
  if (exact) return exact;
  for (const [w, p] of windows) if (sameWindow(w, window)) return p;
  return undefined;
}

/** The windows the table prices `model` in, one per window (twins collapsed), in table order. */
export function pricedWindows(table: PriceTable, model: string): CompletionWindow[] {
  const out: CompletionWindow[] = [];
  for (const w of table.get(model)?.keys() ?? []) if (!out.some((o) => sameWindow(o, w))) out.push(w);
  return out;
}
