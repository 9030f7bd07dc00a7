import { readFileSync } from 'node:fs';

let version: string | undefined;

/**
 * This package's version, from its own package.json found relative to this module (src/ and
 * dist/ sit beside it), never from the working directory or the package that depends on us.
 */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}

/** What every request to Sail says it comes from. */
export function userAgent(): string {
  return `sailbatch/${packageVersion()}`;
}
