import type { Argv, CommandModule } from 'yargs';
import type { CliIo } from './io.ts';

export interface ExportArgs {
  db: string;
  output: string;
  errors?: string;
  format?: string;
  batch?: number;
}

export function exportCommand(io: CliIo): CommandModule<object, ExportArgs> {
  return {
    command: 'export',
    describe: "write a checkpoint's results in input order, at any time (exit 1 while jobs are unfinished)",
    builder: (y) =>
      y
        .option('db', { type: 'string', demandOption: true, describe: 'checkpoint SQLite file, or PostgreSQL URL' })
        .option('batch', { type: 'number', describe: 'with a PostgreSQL --db holding several batches: which one (`sailbatch batches` lists them)' })
        .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'results file, JSONL or CSV (written atomically, in input order); - for stdout' })
        .option('errors', { type: 'string', describe: 'also write the lines that did not complete to this file' })
        .option('format', { type: 'string', choices: ['jsonl', 'csv'], describe: 'output format [default: from the output extension]' }) as unknown as Argv<ExportArgs>,
    handler: async (args) => {
      const { executeExport } = await import('./export.ts');
      io.exitCode = await executeExport(args, io);
    },
  };
}
