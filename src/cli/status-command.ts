import type { Argv, CommandModule } from 'yargs';
import type { CliIo } from './io.ts';

export interface StatusArgs {
  db: string;
  json: boolean;
  limit: number;
  prices?: string;
  batch?: number;
}

export function statusCommand(io: CliIo): CommandModule<object, StatusArgs> {
  return {
    command: 'status',
    describe: "show a checkpoint's progress, tokens and errors (also while a run is going)",
    builder: (y) =>
      y
        .option('db', { type: 'string', demandOption: true, describe: 'checkpoint SQLite file (run prints it; default <output>.checkpoint.sqlite), or PostgreSQL URL' })
        .option('batch', { type: 'number', describe: 'with a PostgreSQL --db holding several batches: which one (`sailbatch batches` lists them)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the status as one JSON object on stdout' })
        .option('limit', { type: 'number', default: 5, describe: 'how many of the oldest running jobs and of the errors to list' })
        .option('prices', { type: 'string', describe: 'price table: also show what the batch cost so far (see fixtures/prices.example.json)' }) as unknown as Argv<StatusArgs>,
    handler: async (args) => {
      const { executeStatus } = await import('./status.ts');
      io.exitCode = await executeStatus(args, io);
    },
  };
}
