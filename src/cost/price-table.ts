import { sameWindow, type CompletionWindow } from '../api/completion-window.ts';

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
