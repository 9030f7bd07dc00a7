import type { TokenUsage } from '../checkpoint/summary.ts';
import type { TokenPrices } from './price-table.ts';

const PER = 1_000_000;

/** What a piece of work may cost: its input alone, up to its input plus every output token its caps allow. */
export interface CostRange {
  low: number;
  /** null when some line has no output cap: nothing bounds what it may produce. */
  high: number | null;
}

/** Input at the full input price (cache hits only make it cheaper); output at most up to the cap. */
export function workCost(p: TokenPrices, inputTokens: number, outputCap: number | null): CostRange {
  const low = (inputTokens * p.input) / PER;
  return { low, high: outputCap === null ? null : (inputTokens * p.input + outputCap * p.output) / PER };
}

/**
 * What a finished job cost, from the usage the server reported: cached input and reasoning
 * output are parts of input and output, priced at their own rates.
 */
export function usageCost(p: TokenPrices, u: TokenUsage): number {
  const cached = Math.min(u.cached, u.input);
  const reasoning = Math.min(u.reasoning, u.output);
  return (
    ((u.input - cached) * p.input + cached * p.cached_input + (u.output - reasoning) * p.output + reasoning * p.reasoning) / PER
  );
}

export function addRanges(a: CostRange, b: CostRange): CostRange {
  return { low: a.low + b.low, high: a.high === null || b.high === null ? null : a.high + b.high };
}

/** "$0.0123": enough digits that a small test batch does not read as $0.00. */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (usd >= 100) return `$${usd.toFixed(2)}`;
  if (usd >= 1) return `$${usd.toFixed(3)}`;
  return `$${usd.toPrecision(3)}`;
}

export function formatRange(r: CostRange): string {
  return r.high === null ? `${formatUsd(r.low)} + uncapped output` : `${formatUsd(r.low)}–${formatUsd(r.high)}`;
}

/** "$0.0123 (from the usage the server reported)", naming what the price table left out. */
export function describeCost(c: { usd: number; unpriced: readonly { model: string; completionWindow: string | null }[] }): string {
  const missing = c.unpriced.map((u) => `${u.model} in ${u.completionWindow}`).join(', ');
  return `${formatUsd(c.usd)} from the usage the server reported${missing ? ` (not counted, no price: ${missing})` : ''}`;
}
