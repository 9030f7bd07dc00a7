import type { Argv, CommandModule } from 'yargs';
import type { CliIo } from './io.ts';
import { runFlags, type RunArgs } from './run.ts';

/** `run --retry-failed` under its own name: the same flags, the same checkpoint. */
export function retryCommand(io: CliIo): CommandModule<object, RunArgs> {
  return {
    command: 'retry <input>',
    describe: 'send again, with new idempotency keys, the jobs of a batch that ended unsuccessfully; then finish the batch',
    builder: (y) => runFlags(y) as unknown as Argv<RunArgs>,
    handler: async (args) => {
      const { executeRun } = await import('./run-command.ts');
      io.exitCode = await executeRun({ ...args, 'retry-failed': true }, io);
    },
  };
}
