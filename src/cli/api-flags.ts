import type { Argv } from 'yargs';
import { DEFAULT_BASE_URL } from '../api/client.ts';

/** The flags every command that talks to Sail takes, with their environment fallbacks. */
export interface ApiArgs {
  'base-url': string;
  'api-key'?: string;
}

export function apiFlags<T>(y: Argv<T>) {
  return y
    .option('base-url', { type: 'string', describe: 'Sail API base URL [env SAIL_BASE_URL]', default: process.env['SAIL_BASE_URL'] || DEFAULT_BASE_URL, defaultDescription: DEFAULT_BASE_URL })
    .option('api-key', { type: 'string', describe: 'Sail API key [env SAIL_API_KEY]' });
}

/** --api-key, else SAIL_API_KEY, else '' (each command says what a missing key means for it). */
export function apiKeyOf(a: ApiArgs): string {
  return a['api-key'] ?? process.env['SAIL_API_KEY'] ?? '';
}
