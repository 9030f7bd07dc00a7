/**
 * Options read from the environment when the caller leaves them out, as openai-node reads
 * OPENAI_API_KEY: the library and the CLI find the same key and server.
 */
export const OPTION_ENV = { apiKey: 'SAIL_API_KEY', baseUrl: 'SAIL_BASE_URL' } as const;

/** The environment's value for an option (unset or blank: undefined). */
export function fromEnv(key: keyof typeof OPTION_ENV): string | undefined {
  return process.env[OPTION_ENV[key]]?.trim() || undefined;
}
