import { isCompletionWindow } from '../api/completion-window.ts';
import { isEndpoint, ENDPOINT_KINDS } from '../api/endpoints.ts';
import type { WorkToSend } from '../checkpoint/store.ts';
import { UsageError } from '../errors.ts';
import { usageCost } from './cost.ts';
import { inputTokens } from './input-tokens.ts';
import { pricesFor, type PriceTable } from './price-table.ts';
import type { TokenUsage } from '../checkpoint/summary.ts';
import { countOf } from '../human-format.ts';

/** What the budget needs to know of a job: what it sends, and in which window. */
export interface BudgetJob {
  idx: number;
  url: string;
  body: string;
  completionWindow: string | null;
}

/**
 * The spending cap of `--max-cost`. A job may be sent only if what is already spent (finished
 * jobs, priced from the usage the server reported), plus a reservation for every job still out
 * (sent and not finished: its input tokens at the input price plus its whole output cap at the
 * output price, the most it can cost), plus the new job's own reservation, stays within the cap.
 * When a job finishes, its reservation gives way to what it actually cost, which is never more
 * than the reservation for the output and, for gpt-oss models, for the input (o200k_base is
 * their tokenizer; for other models the input count is an estimate).
 */
export class SpendBudget {
  private spentUsd: number;
  private readonly held = new Map<number, { usd: number; model: string; window: string }>();
  private heldUsd = 0;
  /** A job did not fit: the cap stopped the sending (the run then marks what is left not_sent_budget). */
  reached = false;

  constructor(
    private readonly prices: PriceTable,
    readonly maxUsd: number,
    /** What earlier runs of the batch spent, from the store. */
    spentBefore: number,
  ) {
    this.spentUsd = spentBefore;
  }

  /** Spent so far, over every run of the batch. */
  get spent(): number {
    return this.spentUsd;
  }

  /** Spent plus every reservation held. */
  get committed(): number {
    return this.spentUsd + this.heldUsd;
  }

  /** The most a job can cost: input at the input price plus its whole output cap at the output price. */
  reservation(job: BudgetJob): number {
    return this.priced(job).usd;
  }

  /** The job's reservation and model, from one parse of its body. */
  private priced(job: BudgetJob): { usd: number; model: string } {
    const body = JSON.parse(job.body) as Record<string, unknown>;
    const model = String(body['model']);
    if (!isEndpoint(job.url) || !isCompletionWindow(job.completionWindow)) throw new Error(`job ${job.idx}: not a stored request`);
    const p = pricesFor(this.prices, model, job.completionWindow);
    const cap = body[ENDPOINT_KINDS[job.url].maxTokensField];
    if (!p || typeof cap !== 'number') {
      throw new UsageError(
        `--max-cost: job ${job.idx} (${model}, window ${job.completionWindow}) has ${p ? 'no output cap' : 'no price in the table'}, so what it may cost is unbounded; ` +
          'a checkpoint started without caps cannot be run under --max-cost (use another --db with --max-output-tokens)',
      );
    }
    return { usd: (inputTokens(body) * p.input + cap * p.output) / 1_000_000, model };
  }

  /** Holds a reservation for a job about to be sent, if it fits; false when it would pass the cap. */
  tryReserve(job: BudgetJob): boolean {
    if (this.held.has(job.idx)) return true;
    const priced = this.priced(job);
    if (this.committed + priced.usd > this.maxUsd) {
      this.reached = true;
      return false;
    }
    this.hold(job, priced);
    return true;
  }

  /** A job already out at the server when the run started (an earlier run sent it). */
  holdExisting(job: BudgetJob): void {
    if (!this.held.has(job.idx)) this.hold(job, this.priced(job));
  }

  private hold(job: BudgetJob, { usd, model }: { usd: number; model: string }): void {
    this.held.set(job.idx, { usd, model, window: job.completionWindow! });
    this.heldUsd += usd;
  }

  /** A job was not sent after all (a stop before its POST left): its reservation is given back. */
  release(idx: number): void {
    const h = this.held.get(idx);
    if (!h) return;
    this.held.delete(idx);
    this.heldUsd -= h.usd;
  }

  /** A job finished: its reservation gives way to what its result's usage says it cost. */
  settle(idx: number, tokens: TokenUsage): void {
    const h = this.held.get(idx);
    if (!h) return;
    this.release(idx);
    if (!isCompletionWindow(h.window)) return;
    const p = pricesFor(this.prices, h.model, h.window);
    if (p) this.spentUsd += usageCost(p, tokens);
  }
}

/**
 * Refuses `--max-cost` where a job's most possible cost cannot be known: a request with no
 * output cap (nothing bounds its output) or a model and window the price table does not price.
 */
export function assertBudgetable(work: readonly WorkToSend[], prices: PriceTable, pricesFile: string): void {
  const uncapped = work.reduce((n, w) => n + w.uncapped, 0);
  if (uncapped > 0) {
    throw new UsageError(
      `--max-cost: ${uncapped} request${uncapped === 1 ? ' sets' : 's set'} no output cap, so nothing bounds what ${uncapped === 1 ? 'it' : 'they'} may cost; ` +
        'pass --max-output-tokens (or set the cap in the lines). Nothing was sent.',
    );
  }
  const unpriced = work.filter((w) => !isCompletionWindow(w.completionWindow) || !pricesFor(prices, w.model, w.completionWindow));
  if (unpriced.length > 0) {
    throw new UsageError(
      `--max-cost: ${pricesFile} has no price for ${unpriced.map((w) => `${w.model} in window ${w.completionWindow} (${countOf(w.jobs, 'line')})`).join(', ')}; ` +
        'add them to the price table. Nothing was sent.',
    );
  }
}
