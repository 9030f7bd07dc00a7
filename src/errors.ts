/**
 * The error hierarchy. Every error a user can see is one of these, with a message that names the
 * thing, the value, the expectation and the fix. The CLI maps them to exit codes in one place
 * (`exitCodeFor`), so commands never call `process.exit` themselves.
 */
import { countOf } from './human-format.ts';

export const EXIT = {
  ok: 0,
  someJobsFailed: 1,
  usage: 2,
  fatal: 3,
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class SailbatchError extends Error {
  override name = 'SailbatchError';
  /** Exit code the CLI uses when this error ends a command. */
  readonly exitCode: ExitCode = EXIT.fatal;
}

/** Bad flags or arguments, a missing file, an unwritable output folder. */
export class UsageError extends SailbatchError {
  override name = 'UsageError';
  override readonly exitCode: ExitCode = EXIT.usage;
}

export interface InputIssue {
  file: string;
  /** 1-based physical line number. */
  line: number;
  /** Dotted path of the offending field, or '' for the line as a whole. */
  field: string;
  message: string;
}

export function formatIssue(issue: InputIssue): string {
  return `${issue.file}:${issue.line}: ${issue.field ? `${issue.field}: ` : ''}${issue.message}`;
}

/** The input file has invalid lines; nothing was sent. */
export class InputError extends SailbatchError {
  override name = 'InputError';
  override readonly exitCode: ExitCode = EXIT.usage;
  constructor(
    readonly file: string,
    /** The first issues found (capped); `count` has the total. */
    readonly issues: readonly InputIssue[],
    readonly count: number,
  ) {
    super(
      count === 0
        ? `${file}: no valid lines`
        : `${file}: ${countOf(count, 'invalid line')}, nothing was sent ` +
            `(fix them, or pass --skip-invalid to run the valid lines); first: ${formatIssue(issues[0]!)}`,
    );
  }
}

/** Lines name models the API key cannot use (checked with GET /models before anything is sent). */
export class UnknownModelsError extends UsageError {
  override name = 'UnknownModelsError';
  constructor(
    readonly baseUrl: string,
    /** Each unknown model with the number of lines naming it, and the available models closest first. */
    readonly unknown: readonly { model: string; lines: number; closest: readonly string[] }[],
  ) {
    const n = unknown.length;
    super(
      `${countOf(n, 'model')} named in the input ${n === 1 ? 'is' : 'are'} not available to this API key at ${baseUrl}; nothing was sent:\n` +
        unknown
          .map((u) => `  "${u.model}" (${countOf(u.lines, 'line')}); this key can use: ${u.closest.join(', ') || 'no model at all'}`)
          .join('\n') +
        '\nFix the model names (or --model), or pass --force-model to send every line to one model.',
    );
  }
}

/** The checkpoint cannot be used as asked (changed input, other API key, newer schema, in use). */
export class CheckpointError extends SailbatchError {
  override name = 'CheckpointError';
  override readonly exitCode: ExitCode = EXIT.usage;
}

/** The checkpoint file is damaged (pages overwritten or cut short), or is not a checkpoint at all. */
export class CheckpointDamagedError extends CheckpointError {
  override name = 'CheckpointDamagedError';
}

/** A disk (or a quota) is full. Everything committed is kept: rerunning after space is freed resumes. */
export class NoSpaceError extends SailbatchError {
  override name = 'NoSpaceError';
  override readonly exitCode: ExitCode = EXIT.fatal;
}

/** Another process holds the checkpoint's lease. */
export class CheckpointBusyError extends CheckpointError {
  override name = 'CheckpointBusyError';
}

/** A guarded state transition touched no row: a bug or a concurrent writer. */
export class StateTransitionError extends SailbatchError {
  override name = 'StateTransitionError';

  /** An update its job's state or attempt does not allow; `row` is the job as stored, if it exists. */
  static refused(
    update: { idx: number; kind: string; attempt: number },
    row: { lineNo: number; state: string; attempt: number } | undefined,
  ): StateTransitionError {
    return new StateTransitionError(
      `job ${update.idx} (line ${row?.lineNo}): cannot apply "${update.kind}" for attempt ${update.attempt}; ` +
        `it is ${row?.state} at attempt ${row?.attempt}. Another process may be writing this checkpoint.`,
    );
  }
}

/** The run cannot go on (bad credentials, API unreachable past the bound). Rerunning resumes. */
export class FatalRunError extends SailbatchError {
  override name = 'FatalRunError';
  override readonly exitCode: ExitCode = EXIT.fatal;
}

/** The run was stopped by a signal before it could start sending; rerunning starts it again. */
export class InterruptedError extends SailbatchError {
  override name = 'InterruptedError';
  override readonly exitCode: ExitCode = EXIT.interrupted;
}
