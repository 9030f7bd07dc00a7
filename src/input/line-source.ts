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
      /** Which of several samples of the same request this is (1-based), when more than one is asked for. */
      sample?: number | undefined;
    }
  /** `customId` when the unit's custom_id could be read although the unit is invalid: its error line keeps it. */
  | { kind: 'invalid'; line: number; problems: readonly Problem[]; customId?: string | undefined; row?: Record<string, unknown> | undefined };

/**
 * A source of requests: request lines (OpenAI Batch lines, bare bodies), data rows rendered
 * through a template, or whatever comes next. The job loader consumes any of them the same way;
 * a new input format is one new implementation of this.
 */
export interface LineSource {
  /** The file named in messages. */
  readonly file: string;
  /** The items in input order. Reading can be stopped by breaking out of the loop. */
  items(): AsyncIterable<SourceItem>;
  /** Bytes read so far (for progress). */
  readonly bytesRead: number;
  /** SHA-256 of every byte read: the input's fingerprint once items() is exhausted. */
  sha256(): string;
}
