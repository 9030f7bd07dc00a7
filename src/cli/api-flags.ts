import type { Argv } from 'yargs';
import { DEFAULT_BASE_URL } from '../api/base-url.ts';
import { OPTION_ENV } from '../option-env.ts';

/** The flags every command that talks to Sail takes; left out, the library reads their environment variables. */
export interface ApiArgs {
  'base-url'?: string;
  'api-key'?: string;
}

export function apiFlags<T>(y: Argv<T>) {
  return y
    .option('base-url', { type: 'string', describe: `Sail API base URL [env ${OPTION_ENV.baseUrl}, else ${DEFAULT_BASE_URL}]` })
    .option('api-key', { type: 'string', describe: `Sail API key [env ${OPTION_ENV.apiKey}]` });
}
