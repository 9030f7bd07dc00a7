import { isCompletionWindow } from '../api/completion-window.ts';
import type { ModelUsage } from '../checkpoint/store.ts';
import { usageCost } from './cost.ts';
import { pricesFor, type PriceTable } from './price-table.ts';

export interface ActualCost {
  /** USD, from the usage the server reported for every stored result, priced per model and window. */
  usd: number;
  /** Model and window pairs with usage but no price in the table: not in `usd`. */
  unpriced: { model: string; completionWindow: string | null }[];
}

export function actualCost(usage: readonly ModelUsage[], prices: PriceTable): ActualCost {
  let usd = 0;
  const unpriced: ActualCost['unpriced'] = [];
  for (const u of usage) {
    const p = isCompletionWindow(u.completionWindow) ? pricesFor(prices, u.model, u.completionWindow) : undefined;
    if (p) usd += usageCost(p, u.tokens);
    else if (u.tokens.input + u.tokens.output > 0) unpriced.push({ model: u.model, completionWindow: u.completionWindow });
  }
  return { usd, unpriced };
}
