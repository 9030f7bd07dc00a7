import { SailbatchError } from '../errors.ts';

/**
 * With `--json`, stdout carries exactly one JSON object, whatever happens: the command's result
 * (if it got that far), the real exit code, and the error that ended it (`null` if none). A
 * command hands its result to the CLI (`io.result`) instead of writing it, and `main` prints the
 * object once, after the exit code is known; so a caller never has to guess from an empty stdout.
 */

/** `--json` as yargs reads it (the last of `--json`, `--json=…`, `--no-json` before `--` wins). */
export function wantsJson(argv: readonly string[]): boolean {
  let json = false;
  for (const a of argv) {
    if (a === '--') break;
    if (a === '--json' || a === '--json=true') json = true;
    else if (a === '--no-json' || a === '--json=false') json = false;
  }
  return json;
}

export interface JsonError {
  name: string;
  message: string;
  [field: string]: unknown;
}

/** A typed error with its own fields (file, line, issues…); anything else as an internal error. */
export function errorAsJson(e: unknown): JsonError {
  if (e instanceof SailbatchError) {
    const { cause: _c, stack: _s, ...fields } = e as SailbatchError & { cause?: unknown };
    return { ...fields, name: e.name, message: e.message };
  }
  return { name: 'InternalError', message: `internal error, please report it: ${e instanceof Error ? e.message : String(e)}` };
}

export function jsonResult(result: object | undefined, exitCode: number, error: JsonError | null): string {
  return `${JSON.stringify({ ...result, exitCode, error })}\n`;
}
