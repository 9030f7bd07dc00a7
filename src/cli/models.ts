import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_BASE_URL } from '../api/client.ts';
import type { CliIo } from './io.ts';

export interface ModelsArgs {
  'base-url': string;
  'api-key'?: string;
  json: boolean;
}

export function modelsCommand(io: CliIo): CommandModule<object, ModelsArgs> {
  return {
    command: 'models',
    describe: 'list the models your API key can use',
    builder: (y) =>
      y
        .option('base-url', { type: 'string', describe: 'Sail API base URL [env SAIL_BASE_URL]', default: process.env['SAIL_BASE_URL'] || DEFAULT_BASE_URL, defaultDescription: DEFAULT_BASE_URL })
        .option('api-key', { type: 'string', describe: 'Sail API key [env SAIL_API_KEY]' })
        .option('json', { type: 'boolean', default: false, describe: 'print the list as JSON on stdout' }) as unknown as Argv<ModelsArgs>,
    handler: async (args) => {
      const { executeModels } = await import('./models-command.ts');
      io.exitCode = await executeModels(args, io);
    },
  };
}
