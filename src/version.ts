import { readFileSync } from 'node:fs';

let version: string | undefined;

/**
 * This package's version, from its own package.json, never from the working directory or the
 * package that depends on us. Found by the package's name (a self-reference, which resolves to
 * the package this module is part of), not by a path relative to this module: the CLI's bundle
 * carries this code in dist/cli/, the library in dist/, the tests in src/.
 */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL(import.meta.resolve('sailbatch/package.json')), 'utf8')) as { version: string }).version;
  return version;
}

/** What every request to Sail says it comes from. */
export function userAgent(): string {
  return `sailbatch/${packageVersion()}`;
}
