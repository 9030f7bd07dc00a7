import type { JobBatch } from './job-batch.ts';
import type { NormalizedLine, Problem } from './normalize.ts';

/**
 * What a source yields for one input unit (a request line, a data row): the request it
 * becomes, or why it cannot become one. `line` is the 1-based physical line where the unit
 * starts, for messages; units that are blank yield nothing.
 */
export type SourceItem =
  | {
      kind: 'request';
      line: number;
      request: NormalizedLine;
      /** The data row the request was rendered from (templated sources). */
      row?: Record<string, unknown> | undefined;
    }
  /** `customId` when the unit's custom_id could be read although the unit is invalid: its error line keeps it. */
  | { kind: 'invalid'; line: number; problems: readonly Problem[]; customId?: string | undefined; row?: Record<string, unknown> | undefined };

/**
 * A source of requests: request lines (OpenAI Batch lines, bare bodies), data rows rendered
 * through a template, or whatever comes next. Each turns its units into SourceItems and those
 * into jobs with prepareItem (in validation workers, for request lines); the job loader consumes
 * any of them the same way. A new input format is one new implementation of this.
 */
export interface LineSource {
  /** The file named in messages. */
  readonly file: string;
  /** The jobs of the units, prepared and in input order, in batches. Reading can be stopped by breaking out of the loop. */
  batches(): AsyncIterable<JobBatch>;
  /** Bytes read so far (for progress). */
  readonly bytesRead: number;
  /** SHA-256 of every byte read: the input's fingerprint once batches() is exhausted. */
  sha256(): string;
}
