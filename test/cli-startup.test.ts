import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { workloadFor } from './helpers/batch.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { testDir } from './helpers/tmp.ts';

/**
 * The commands that do little load little: a command's implementation and its libraries are
 * imported when it runs, so `--version`, `--help` and `status` start without the HTTP client,
 * the schemas, the tokenizer or the other stores. Asserted on what Node loads, not on time.
 */
const HEAVY = ['undici', 'zod', 'gpt-tokenizer', 'cli-progress', 'csv-parse', 'csv-stringify', 'ajv', 'pg', 'p-limit', 'split2'];

/** The package a path inside node_modules belongs to (the innermost, for a nested install). */
const PACKAGE_IN_PATH = /^(?:.*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\//;

/**
 * What builds ICU data into a process: the first formatter or segmenter of a kind loads its share
 * (12–45 ms of CPU each). Installed before the CLI runs, each names itself on stderr when used.
 */
const ICU_PROBES = `
for (const kind of ['Segmenter', 'NumberFormat', 'DateTimeFormat', 'PluralRules', 'Collator']) {
  Intl[kind] = new Proxy(Intl[kind], { construct(target, args, newTarget) { process.stderr.write('ICU Intl.' + kind + '\\n'); return Reflect.construct(target, args, newTarget); } });
}
for (const type of [Number, Date]) {
  const real = type.prototype.toLocaleString;
  type.prototype.toLocaleString = function (...args) { process.stderr.write('ICU ' + type.name + '.toLocaleString\\n'); return real.apply(this, args); };
}
`;

/**
 * What a CLI invocation loads: its packages, and the ICU data it builds (ICU_PROBES). The packages
 * are those Node resolves from node_modules, named on stderr by a module resolve hook and by
 * require's resolver (require() bypasses the hook in Node 20), and those the CLI's bundle
 * (dist/cli/, see src/build/bundle-cli.ts) inlined into the files of it that Node loads: esbuild
 * heads each module it inlines with a comment naming its path.
 */
async function startup(dir: string, args: string[]): Promise<{ packages: Set<string>; icu: Set<string> }> {
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(hooks, "export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write('RESOLVED ' + r.url + '\\n'); return r; }\n");
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import Module, { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hooks).href)});
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) { const file = resolveFilename.apply(this, args); process.stderr.write('RESOLVED ' + file + '\\n'); return file; };
${ICU_PROBES}`,
  );
  const child = spawn(process.execPath, ['--import', register, BIN, ...args], { env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr.split('\n').filter((l) => !/^(RESOLVED|ICU) /.test(l)).join('\n'));
  const packages = new Set<string>();
  for (const [, resolved] of stderr.matchAll(/^RESOLVED (.*)$/gm)) {
    const path = resolved!.startsWith('file:') ? fileURLToPath(resolved!) : resolved!;
    if (!isAbsolute(path)) continue;
    const own = PACKAGE_IN_PATH.exec(path);
    if (own) packages.add(own[1]!);
    else if (dirname(path) === dirname(BIN)) {
      for (const [, inlined] of readFileSync(path, 'utf8').matchAll(/^\/\/ (.*)$/gm)) {
        const m = PACKAGE_IN_PATH.exec(inlined!);
        if (m) packages.add(m[1]!);
      }
    }
  }
  return { packages, icu: new Set([...stderr.matchAll(/^ICU (.*)$/gm)].map((m) => m[1]!)) };
}

test('--version, --help and status (text and --json) load none of the libraries a run needs, and no ICU data', async (t) => {
  const { dir, sim, input, output } = await workloadFor(t, 20);
  const db = join(dir, 'cp.sqlite');
  const run = await runCli(['run', input, '-o', output, '--db', db, '--base-url', sim.url, '--max-rps', '0', '--poll-interval', '50ms', '--quiet']);
  assert.equal(run.code, 0, run.stderr);

  for (const args of [['--version'], ['--help'], ['status', '--db', db], ['status', '--db', db, '--json']]) {
    const { packages, icu } = await startup(dir, args);
    assert.ok(packages.has('yargs'), `${args.join(' ')}: the hook saw the packages (${[...packages].join(', ')})`);
    assert.deepEqual(HEAVY.filter((p) => packages.has(p)), [], `sailbatch ${args.join(' ')} loads only what it needs`);
    assert.equal(packages.has('better-sqlite3'), args[0] === 'status', `sailbatch ${args.join(' ')}: the SQLite driver only for status`);
    assert.deepEqual([...icu], [], `sailbatch ${args.join(' ')} builds no ICU formatter or segmenter`);
  }
});

test('the probes see ICU being used: help text beyond ASCII measures its width with a segmenter', async (t) => {
  const { icu } = await startup(testDir(t), ['run', '--help']);
  assert.ok(icu.has('Intl.Segmenter'), `run --help lays out the arrows of --prices' description with a segmenter; the probes saw: ${[...icu].join(', ')}`);
});
