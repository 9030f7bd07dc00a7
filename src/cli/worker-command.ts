import type { Argv, CommandModule } from 'yargs';
import type { CliIo } from './io.ts';

export interface WorkerArgs {
  db: string;
  batch: number;
  'base-url'?: string;
  'api-key'?: string;
  'lease-stale'?: string;
  quiet: boolean;
  json: boolean;
  'log-every': string;
}

export function workerCommand(io: CliIo): CommandModule<object, WorkerArgs> {
  return {
    command: 'worker',
    describe: 'join a batch of a PostgreSQL database from any machine and work it until it is done (no input file needed)',
    builder: (y) =>
      y
        .option('db', { type: 'string', demandOption: true, describe: 'PostgreSQL URL (postgres://user@host/db; password from the URL or PGPASSWORD)' })
        .option('batch', { type: 'number', demandOption: true, describe: 'the batch to work on (`sailbatch batches` lists them)' })
        .option('api-key', { type: 'string', describe: "Sail API key, the batch's own [env SAIL_API_KEY]" })
        .option('base-url', { type: 'string', describe: 'Sail API base URL [default: the one the batch was started with]' })
        .option('lease-stale', { type: 'string', describe: "how long a dead worker's claims outlive its last heartbeat, e.g. 30s [default: the batch's]" })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress output' })
        .option('json', { type: 'boolean', default: false, describe: 'print the end summary as one JSON object on stdout' })
        .option('log-every', { type: 'string', default: '5s', describe: 'off a TTY, how often to log a progress line' }) as unknown as Argv<WorkerArgs>,
    handler: async (args) => {
      const { executeWorker } = await import('./worker.ts');
      io.exitCode = await executeWorker(args, io);
    },
  };
}
