import type { Argv, CommandModule } from 'yargs';
import { apiFlags, type ApiArgs } from './api-flags.ts';
import type { CliIo } from './io.ts';

export interface ModelsArgs extends ApiArgs {
  json: boolean;
}

export function modelsCommand(io: CliIo): CommandModule<object, ModelsArgs> {
  return {
    command: 'models',
    describe: 'list the models your API key can use',
    builder: (y) =>
      apiFlags(y)
        .option('json', { type: 'boolean', default: false, describe: 'print the list as one JSON object ({"models": [...]}) on stdout' }) as unknown as Argv<ModelsArgs>,
    handler: async (args) => {
      const { executeModels } = await import('./models.ts');
      io.exitCode = await executeModels(args, io);
    },
  };
}
