import type { Argv, CommandModule } from 'yargs';
import type { CliIo } from './io.ts';

export interface BatchesArgs {
  db: string;
  json: boolean;
}

export function batchesCommand(io: CliIo): CommandModule<object, BatchesArgs> {
  return {
    command: 'batches',
    describe: 'list the batches in a PostgreSQL database, with their progress and live workers',
    builder: (y) =>
      y
        .option('db', { type: 'string', demandOption: true, describe: 'PostgreSQL URL (postgres://user@host/db; password from the URL or PGPASSWORD)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the list as one JSON object on stdout' }) as unknown as Argv<BatchesArgs>,
    handler: async (args) => {
      const { executeBatches } = await import('./batches.ts');
      io.exitCode = await executeBatches(args, io);
    },
  };
}
