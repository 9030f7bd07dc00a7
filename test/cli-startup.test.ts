import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { workloadFor } from './helpers/batch.ts';
import { BIN, runCli } from './helpers/cli.ts';

/**
 * The commands that do little load little: a command's implementation and its libraries are
 * imported when it runs, so `--version`, `--help` and `status` start without the HTTP client,
 * the schemas, the tokenizer or the other stores. Asserted on what Node loads, not on time.
 */
const HEAVY = ['undici', 'zod', 'gpt-tokenizer', 'cli-progress', 'csv-parse', 'csv-stringify', 'ajv', 'pg', 'p-limit', 'split2'];

/** The package a path inside node_modules belongs to (the innermost, for a nested install). */
const PACKAGE_IN_PATH = /^.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//;

/**
 * The packages a CLI invocation loads, from a module resolve hook that names each file on stderr:
 * those Node resolves from node_modules, and those the CLI's bundle (dist/cli/, see
 * scripts/bundle-cli.ts) inlined into the files of it that Node loads; esbuild heads each module
 * it inlines with a comment naming its path.
 */
async function packagesLoaded(dir: string, args: string[]): Promise<Set<string>> {
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(hooks, "export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('RESOLVED ' + r.url + '\\n'); return r; }\n");
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const child = spawn(process.execPath, ['--import', register, BIN, ...args], { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr.split('\n').filter((l) => !l.startsWith('RESOLVED ')).join('\n'));
  const packages = new Set<string>();
  for (const [, url] of stderr.matchAll(/^RESOLVED (.*)$/gm)) {
    if (!url!.startsWith('file:')) continue;
    const path = fileURLToPath(url!);
    const own = PACKAGE_IN_PATH.exec(path);
    if (own) packages.add(own[1]!);
    else if (dirname(path) === dirname(BIN)) {
      for (const [, inlined] of readFileSync(path, 'utf8').matchAll(/^\/\/ (.*)$/gm)) {
        const m = PACKAGE_IN_PATH.exec(inlined!);
        if (m) packages.add(m[1]!);
      }
    }
  }
  return packages;
}

test('--version, --help and status (text and --json) load none of the libraries a run needs', async (t) => {
  const { dir, sim, input, output } = await workloadFor(t, 20);
  const db = join(dir, 'cp.sqlite');
  const run = await runCli(['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--max-rps', '0', '--poll-interval', '50ms', '--quiet']);
  assert.equal(run.code, 0, run.stderr);

  for (const args of [['--version'], ['--help'], ['status', '--db', db], ['status', '--db', db, '--json']]) {
    const loaded = await packagesLoaded(dir, args);
    assert.ok(loaded.has('yargs'), `${args.join(' ')}: the hook saw the packages (${[...loaded].join(', ')})`);
    assert.deepEqual(HEAVY.filter((p) => loaded.has(p)), [], `sailbatch ${args.join(' ')} loads only what it needs`);
    assert.equal(loaded.has('better-sqlite3'), args[0] === 'status', `sailbatch ${args.join(' ')}: the SQLite driver only for status`);
  }
});
