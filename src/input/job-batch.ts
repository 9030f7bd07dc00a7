import { JOB_STATES } from '../checkpoint/job-states.ts';
import type { NewJob } from '../checkpoint/store.ts';
import type { Problem } from './normalize.ts';

/** A request made ready to store: everything of its job but its place (`idx`), which the loader gives it. */
export type PreparedJob = Pick<NewJob, 'lineNo' | 'url' | 'body' | 'bodySha256' | 'completionWindow'> & {
  customId: string;
  model: string | null;
  sample: number | null;
  sourceRow: string | null;
};

/** An input unit that cannot become a request; its custom_id when it could be read, so its error line keeps it. */
export interface InvalidItem {
  idx: number;
  line: number;
  customId: string | null;
  sourceRow: string | null;
  problems: readonly Problem[];
}

type Field = string | number | null;

/**
 * The entries prepared from a run of input units, in input order: pending jobs and invalid
 * units. Flat (a tag, then the fields), because a batch crosses from a validation worker by
 * structured clone, which copies an array of strings at a third of the cost of as many objects.
 */
export type JobBatch = readonly Field[];

const JOB = 0;
const INVALID = 1;

export class JobBatchWriter {
  private data: Field[] = [];

  get length(): number {
    return this.data.length;
  }

  job(j: PreparedJob): void {
    this.data.push(JOB, j.lineNo, j.customId, j.url, j.body, j.bodySha256, j.completionWindow, j.model, j.sample, j.sourceRow);
  }

  invalid(line: number, customId: string | null, sourceRow: string | null, problems: readonly Problem[]): void {
    this.data.push(INVALID, line, customId, sourceRow, problems.length);
    for (const p of problems) this.data.push(p.field, p.message);
  }

  /** The entries written since the last take. */
  take(): JobBatch {
    const out = this.data;
    this.data = [];
    return out;
  }
}

export interface JobBatchVisitor {
  job(job: NewJob): void;
  invalid(item: InvalidItem): void;
}

/**
 * Visits the entries of `batch` in order, each at the next idx from `idx`; returns the idx after
 * them. A job goes without its first attempt's idempotency key, and mostly without its body's
 * hash, which the store derives from the rest (see NewJob).
 */
export function readJobBatch(batch: JobBatch, idx: number, visit: JobBatchVisitor): number {
  for (let i = 0; i < batch.length; idx++) {
    if (batch[i] === JOB) {
      visit.job({
        idx,
        lineNo: batch[i + 1] as number,
        customId: batch[i + 2] as string,
        url: batch[i + 3] as string,
        body: batch[i + 4] as string,
        bodySha256: batch[i + 5] as string | null,
        completionWindow: batch[i + 6] as string,
        state: JOB_STATES.pending,
        idempotencyKey: null,
        model: batch[i + 7] as string | null,
        sample: batch[i + 8] as number | null,
        sourceRow: batch[i + 9] as string | null,
      });
      i += 10;
    } else {
      const n = batch[i + 4] as number;
      const problems: Problem[] = [];
      for (let k = 0; k < n; k++) problems.push({ field: batch[i + 5 + 2 * k] as string, message: batch[i + 6 + 2 * k] as string });
      visit.invalid({ idx, line: batch[i + 1] as number, customId: batch[i + 2] as string | null, sourceRow: batch[i + 3] as string | null, problems });
      i += 5 + 2 * n;
    }
  }
  return idx;
}
