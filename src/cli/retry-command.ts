import type { CommandModule } from 'yargs';
import type { CliIo } from './io.ts';
import { runCommand, type RunArgs } from './run-command.ts';

/** `run --retry-failed` under its own name: the same flags, the same checkpoint. */
export function retryCommand(io: CliIo): CommandModule<object, RunArgs> {
  return runCommand(
    io,
    'retry <input>',
    'send again, with new idempotency keys, the jobs of a batch that ended unsuccessfully; then finish the batch',
    { 'retry-failed': true },
  );
}
