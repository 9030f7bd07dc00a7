import { sameWindow, type CompletionWindow } from '../api/completion-window.ts';
import { addRanges, workCost, type CostRange } from './cost.ts';
import { pricedWindows, pricesFor, type PriceTable } from './price-table.ts';
import type { WorkGroup } from './work-tally.ts';

export interface EstimatedGroup extends WorkGroup {
  /** Present with a price table; null when it has no price for this model in this window. */
  cost?: CostRange | null;
  /** The same requests in each other window the table prices this model in. */
  otherWindows?: Partial<Record<CompletionWindow, CostRange>>;
}

export interface WindowTotal {
  completionWindow: CompletionWindow;
  /** The whole work with every request in this window; null when some model has no price there. */
  cost: CostRange | null;
  unpricedModels: string[];
}

export interface WorkEstimate {
  groups: EstimatedGroup[];
  totals: {
    requests: number;
    inputTokens: number;
    outputTokenCap: number;
    uncapped: number;
    /** Present with a price table; null when some group has no price. */
    cost?: CostRange | null;
  };
  /** With a price table: what the same work costs if it all ran in each window the table knows. */
  byWindow?: WindowTotal[];
  /** Models whose input tokens are an o200k_base estimate rather than their own tokenizer's count. */
  estimatedModels: string[];
}

/** Figures for a tally of requests, and their cost when a price table is given. */
export function estimateWork(groups: readonly WorkGroup[], prices?: PriceTable): WorkEstimate {
  const totals: WorkEstimate['totals'] = { requests: 0, inputTokens: 0, outputTokenCap: 0, uncapped: 0 };
  for (const g of groups) {
    totals.requests += g.requests;
    totals.inputTokens += g.inputTokens;
    totals.outputTokenCap += g.outputTokenCap;
    totals.uncapped += g.uncapped;
  }
  const estimatedModels = [...new Set(groups.filter((g) => !g.inputTokensExact).map((g) => g.model))].sort();
  if (!prices) return { groups: groups.map((g) => ({ ...g })), totals, estimatedModels };

  const costIn = (g: WorkGroup, w: CompletionWindow): CostRange | null => {
    const p = pricesFor(prices, g.model, w);
    return p ? workCost(p, g.inputTokens, g.uncapped > 0 ? null : g.outputTokenCap) : null;
  };
  const priced: EstimatedGroup[] = groups.map((g) => {
    const otherWindows: Partial<Record<CompletionWindow, CostRange>> = {};
    for (const w of pricedWindows(prices, g.model)) {
      if (!sameWindow(w, g.completionWindow)) otherWindows[w] = costIn(g, w)!;
    }
    return { ...g, cost: costIn(g, g.completionWindow), otherWindows };
  });
  let total: CostRange | null = { low: 0, high: 0 };
  for (const g of priced) total = total && g.cost ? addRanges(total, g.cost) : null;
  totals.cost = total;

  const windows: CompletionWindow[] = [];
  for (const model of new Set(groups.map((g) => g.model))) {
    for (const w of pricedWindows(prices, model)) if (!windows.some((o) => sameWindow(o, w))) windows.push(w);
  }
  const byWindow = windows.map((w): WindowTotal => {
    let cost: CostRange | null = { low: 0, high: 0 };
    const unpriced = new Set<string>();
    for (const g of groups) {
      const c = costIn(g, w);
      if (c === null) unpriced.add(g.model);
      else if (cost) cost = addRanges(cost, c);
    }
    return { completionWindow: w, cost: unpriced.size > 0 ? null : cost, unpricedModels: [...unpriced].sort() };
  });
  return { groups: priced, totals, byWindow, estimatedModels };
}
