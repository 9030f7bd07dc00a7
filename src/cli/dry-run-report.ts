import { formatRange } from '../cost/cost.ts';
import type { EstimatedGroup } from '../cost/estimate.ts';
import type { DryRunReport } from '../engine/dry-run.ts';
import { formatCount } from '../human-format.ts';

function capCell(g: { outputTokenCap: number; uncapped: number; requests: number }): string {
  if (g.uncapped === 0) return formatCount(g.outputTokenCap);
  if (g.uncapped === g.requests) return 'no cap';
  return `${formatCount(g.outputTokenCap)} + no cap on ${formatCount(g.uncapped)}`;
}

function costCell(cost: EstimatedGroup['cost']): string {
  return cost === undefined ? '' : cost === null ? 'no price' : formatRange(cost);
}

/** Columns padded to their widest cell; numbers right-aligned. */
function table(rows: string[][], numeric: readonly boolean[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd());
}

/** A dry run as a person reads it: what would be sent, per endpoint × model × window, and what it may cost. */
export function describeDryRun(r: DryRunReport): string {
  const priced = r.prices !== null;
  const out: string[] = [];
  out.push(
    r.source === 'input'
      ? `dry run: ${r.input} has ${formatCount(r.jobs)} valid requests${r.invalid ? ` (${formatCount(r.invalid)} invalid lines skipped)` : ''}; a run would send all of them.`
      : `dry run: checkpoint ${r.db} holds ${formatCount(r.jobs)} jobs of ${r.input}; a run would resume it and send the ${formatCount(r.totals.requests)} listed here.`,
  );
  out.push('Nothing was sent and nothing was written.', '');
  const head = ['endpoint', 'model', 'window', 'requests', 'input tokens', 'output cap', ...(priced ? ['cost (USD)'] : [])];
  const rows = r.groups.map((g) => [
    g.endpoint,
    g.model,
    g.completionWindow,
    formatCount(g.requests),
    `${g.inputTokensExact ? '' : '~'}${formatCount(g.inputTokens)}`,
    capCell(g),
    ...(priced ? [costCell(g.cost)] : []),
  ]);
  const t = r.totals;
  const estimated = r.estimatedModels.length > 0;
  rows.push(['total', '', '', formatCount(t.requests), `${estimated ? '~' : ''}${formatCount(t.inputTokens)}`, capCell(t), ...(priced ? [costCell(t.cost)] : [])]);
  out.push(...table([head, ...rows], [false, false, false, true, true, true, false]));
  out.push('');
  out.push(
    `input tokens: the prompts' text counted with ${r.tokenizer}, the gpt-oss tokenizer` +
      (estimated ? `; "~" marks an estimate (${r.estimatedModels.join(', ')} ${r.estimatedModels.length === 1 ? 'uses' : 'use'} another tokenizer)` : '') +
      '. The chat template adds a few tokens per message.',
  );
  if (t.uncapped > 0) out.push(`${formatCount(t.uncapped)} requests set no output cap: nothing bounds their output (set one with --max-output-tokens).`);
  if (priced) {
    out.push(`cost: input at the input price (cache hits only lower it), up to input plus every output token the caps allow; prices from ${r.prices}.`);
    if (r.byWindow && r.byWindow.length > 0) {
      out.push('', 'the same requests, all in one window:');
      out.push(
        ...table(
          r.byWindow.map((w) => ['  ' + w.completionWindow, w.cost ? formatRange(w.cost) : `no price for ${w.unpricedModels.join(', ')}`]),
          [false, false],
        ),
      );
    }
  }
  return `${out.join('\n')}\n`;
}
