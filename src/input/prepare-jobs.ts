import { bodySha256 } from '../api/idempotency-key.ts';
import type { JobBatchWriter } from './job-batch.ts';
import type { SourceItem } from './line-source.ts';
import { forEachPlanned, type PlanOptions } from './request-plan.ts';

export interface PrepareOptions {
  /** What the run options add to every request; absent when they add nothing (its copies of every body are garbage at a million lines). */
  plan?: PlanOptions | undefined;
  /**
   * Hash each body here, for a store that stores the hash with the job as it inserts it
   * (PostgreSQL): where a validation worker prepares the jobs, that is off the main thread,
   * which inserts them.
   */
  hashBodies?: boolean | undefined;
}

/**
 * One item of any source into the entries the loader stores: a request becomes its planned jobs,
 * each with its body as sent, from which the store derives the body's hash (unless it is hashed
 * here) and the first attempt's idempotency key (design invariant 2; see NewJob); an invalid
 * item stays one invalid entry. The one place a request
 * becomes a job row, whether in a validation worker or on the main thread.
 */
export function prepareItem(item: SourceItem, o: PrepareOptions, out: JobBatchWriter): void {
  const sourceRow = item.row === undefined ? null : JSON.stringify(item.row);
  if (item.kind === 'invalid') {
    out.invalid(item.line, item.customId ?? null, sourceRow, item.problems);
    return;
  }
  const job = (req: typeof item.request, sample: number | undefined) => {
    const { customId, url, body, completionWindow } = req;
    out.job({
      lineNo: item.line,
      customId,
      url,
      body: JSON.stringify(body),
      bodySha256: o.hashBodies ? bodySha256(body) : null,
      completionWindow,
      model: typeof body['model'] === 'string' ? body['model'] : null,
      sample: sample ?? null,
      sourceRow,
    });
  };
  if (o.plan) forEachPlanned(item.request, o.plan, job);
  else job(item.request, undefined);
}
