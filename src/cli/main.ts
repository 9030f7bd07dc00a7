import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT, InputError, SailbatchError } from '../errors.ts';
import type { CliIo } from './io.ts';
import { retryCommand } from './retry.ts';
import { exportCommand } from './export.ts';
import { modelsCommand } from './models.ts';
import { runCommand } from './run.ts';
import { simCommand } from './sim.ts';
import { statusCommand } from './status.ts';

/**
 * The CLI's one top-level catch: typed errors become their exit code and message; anything else
 * is a bug, reported with its stack.
 */
export async function main(argv: string[], io: CliIo): Promise<number> {
  try {
    await yargs(argv)
      .scriptName('sailbatch')
      .usage('$0 <command> [options]\n\nRun large JSONL workloads through Sail without losing or double-paying for a line.')
      .command(runCommand(io))
      .command(retryCommand(io))
      .command(statusCommand(io))
      .command(exportCommand(io))
      .command(modelsCommand(io))
      .command(simCommand(io))
      .demandCommand(1, 'name a command (see --help)')
      .strict()
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
  } catch (e) {
    if (e instanceof UsageErrorFromYargs) {
      io.stderr.write(`sailbatch: ${e.message}\nRun \`sailbatch --help\` for usage.\n`);
      return EXIT.usage;
    }
    if (e instanceof InputError) {
      io.stderr.write(`sailbatch: ${e.count} invalid line${e.count === 1 ? '' : 's'} in ${e.file} (listed above); nothing was sent. Fix them, or pass --skip-invalid to run the valid lines.\n`);
      return e.exitCode;
    }
    if (e instanceof SailbatchError) {
      io.stderr.write(`sailbatch: ${e.message}\n`);
      return e.exitCode;
    }
    io.stderr.write(`sailbatch: internal error, please report it with this output:\n${(e as Error).stack ?? String(e)}\n`);
    return EXIT.fatal;
  }
}

class UsageErrorFromYargs extends Error {}

export function cliArgs(): string[] {
  return hideBin(process.argv);
}
