import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT, InputError, SailbatchError, UsageError } from '../errors.ts';
import type { CliIo } from './io.ts';
import { errorAsJson, jsonResult, wantsJson, type JsonError } from './json-result.ts';
import { retryCommand } from './retry-command.ts';
import { exportCommand } from './export-command.ts';
import { modelsCommand } from './models-command.ts';
import { runCommand } from './run-command.ts';
import { simCommand } from './sim-command.ts';
import { statusCommand } from './status-command.ts';
import { packageVersion } from '../version.ts';
import { countOf } from '../human-format.ts';
import { batchesCommand } from './batches-command.ts';
import { workerCommand } from './worker-command.ts';

const INTERRUPTED: JsonError = { name: 'InterruptedError', message: 'interrupted by a signal; rerun the same command to resume' };

/**
 * The CLI's one top-level catch: typed errors become their exit code and message; anything else
 * is a bug, reported with its stack. Under `--json` the outcome is also one JSON object on stdout.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let error: JsonError | null = null;
  const code = await parseAndRun(argv, io).catch((e: unknown) => {
    error = errorAsJson(e);
    return reportError(e, io);
  });
  if (wantsJson(argv)) io.stdout.write(jsonResult(io.result, code, error ?? (code === EXIT.interrupted ? INTERRUPTED : null)));
  return code;
}

/**
 * yargs reads `--output -` (and a positional `-`, which it parses again as `--input -`) as a flag
 * with no value, so a lone `-` goes through the parser as a stand-in no argument can spell (argv
 * cannot hold a NUL) and is turned back into `-` before any command sees its arguments.
 */
const DASH = '\u0000-';

function restoreDashes(argv: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(argv)) {
    if (value === DASH) argv[key] = '-';
    else if (Array.isArray(value)) argv[key] = value.map((v) => (v === DASH ? '-' : v));
  }
}

async function parseAndRun(argv: string[], io: CliIo): Promise<number> {
  const end = argv.indexOf('--');
  await yargs(argv.map((a, i) => (a === '-' && (end < 0 || i < end) ? DASH : a)))
    .middleware(restoreDashes, true)
    .scriptName('sailbatch')
    .usage('$0 <command> [options]\n\nRun large JSONL workloads through Sail without losing or double-paying for a line.')
    .command(runCommand(io))
    .command(retryCommand(io))
    .command(statusCommand(io))
    .command(exportCommand(io))
    .command(workerCommand(io))
    .command(batchesCommand(io))
    .command(modelsCommand(io))
    .command(simCommand(io))
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    // yargs' own complaints in the house wording: the flag, what it must be, what was given.
    .updateStrings({
      'Invalid values:': 'invalid value:',
      'Argument: %s, Given: %s, Choices: %s': '--%s must be one of the choices (got %s): %s',
    })
    // Our own version: yargs would guess from the package.json above its own install, the depending project's.
    .version(packageVersion())
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .epilogue('Exit codes: 0 all completed, 1 some did not, 2 bad usage or input, 3 run-wide fatal error, 130 interrupted (rerun resumes).')
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageErrorFromYargs(msg);
    })
    .exitProcess(false)
    .parseAsync();
  return io.exitCode;
}

function reportError(e: unknown, io: CliIo): number {
  if (e instanceof UsageErrorFromYargs) {
    io.stderr.write(`sailbatch: ${e.message}\nRun \`sailbatch --help\` for usage.\n`);
    return EXIT.usage;
  }
  if (e instanceof InputError) {
    io.stderr.write(`sailbatch: ${countOf(e.count, 'invalid line')} in ${e.file} (see above); nothing was sent. Fix them, or pass --skip-invalid to run the valid lines.\n`);
    return e.exitCode;
  }
  if (e instanceof SailbatchError) {
    io.stderr.write(`sailbatch: ${e.message}\n`);
    return e.exitCode;
  }
  io.stderr.write(`sailbatch: internal error, please report it with this output:\n${(e as Error).stack ?? String(e)}\n`);
  return EXIT.fatal;
}

/** yargs' own complaints (unknown flag, missing argument): a usage error that also prints the help hint. */
class UsageErrorFromYargs extends UsageError {}

export function cliArgs(): string[] {
  return hideBin(process.argv);
}
