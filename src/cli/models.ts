import { listModels } from '../api/list-models.ts';
import { EXIT, UsageError } from '../errors.ts';
import { fromEnv } from '../option-env.ts';
import type { CliIo } from './io.ts';
import type { ModelsArgs } from './models-command.ts';

export async function executeModels(args: ModelsArgs, io: CliIo): Promise<number> {
  if (!args['api-key'] && !fromEnv('apiKey')) throw new UsageError('no API key: pass --api-key or set SAIL_API_KEY');
  const models = await listModels({ baseUrl: args['base-url'], apiKey: args['api-key'], signal: io.signal }).catch((e: unknown) => {
    if (io.signal.aborted) return undefined;
    throw e;
  });
  if (!models) return EXIT.interrupted;
  if (args.json) io.result = { models };
  else io.stdout.write(models.map((m) => `${m.id}\n`).join(''));
  return EXIT.ok;
}
