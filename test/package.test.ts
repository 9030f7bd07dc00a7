import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from './helpers/cli.ts';
import { simFor } from './helpers/loopback.ts';
import { testDir } from './helpers/tmp.ts';
import { writeWorkload } from './helpers/workload.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  scripts: Record<string, string>;
  repository?: { url?: string };
  bugs?: { url?: string };
};
const NODE_MODULES = join(ROOT, 'node_modules');

function exec(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** sailbatch as a dependency of another project: its own package.json and dist under the project's node_modules. */
function installInto(project: string, dist: 'all' | 'types'): string {
  const pkg = join(project, 'node_modules', 'sailbatch');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true, filter: (src) => dist === 'all' || (!src.endsWith('.js') && !src.endsWith('.map')) });
  return pkg;
}

test('--version is our own, also when installed under a project with a version of its own', async (t) => {
  const app = testDir(t);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'nightly-evals', version: '9.9.9', private: true }));
  const pkg = installInto(app, 'all');
  // A hoisted install: every dependency beside sailbatch in the project's node_modules. Symlinks
  // kept as paths (--preserve-symlinks), so modules see the layout npm would have made.
  for (const name of readdirSync(NODE_MODULES)) {
    if (name !== 'sailbatch' && !name.startsWith('.')) symlinkSync(join(NODE_MODULES, name), join(app, 'node_modules', name));
  }
  const r = await exec(['--preserve-symlinks', '--preserve-symlinks-main', join(pkg, 'dist', 'cli', 'bin.js'), '--version'], app);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${PKG.version}\n`);
});

test('the public types compile for a consumer that lacks the database drivers\' @types (skipLibCheck off)', async (t) => {
  const consumer = testDir(t);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  installInto(consumer, 'types');
  // What `npm install sailbatch` gives a project: our dependencies (better-sqlite3 and pg ship no
  // types of their own), and the @types/node a Node project has; none of our devDependencies.
  for (const name of Object.keys(PKG.dependencies)) symlinkSync(join(NODE_MODULES, name), join(consumer, 'node_modules', name));
  mkdirSync(join(consumer, 'node_modules', '@types'));
  symlinkSync(join(NODE_MODULES, '@types', 'node'), join(consumer, 'node_modules', '@types', 'node'));
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] },
      files: ['consumer.ts'],
    }),
  );
  writeFileSync(
    join(consumer, 'consumer.ts'),
    [
      "import * as sailbatch from 'sailbatch';",
      "import { runBatch, openStore, type BatchStore, type RunOptionsInput, type RunSummary } from 'sailbatch';",
      "const options: RunOptionsInput = { input: 'in.jsonl', output: 'out.jsonl' };",
      'export async function go(): Promise<[RunSummary, BatchStore]> { return [await runBatch(options), await openStore(options.output)]; }',
      'export const everything = sailbatch;',
      '',
    ].join('\n'),
  );
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = await exec([tsc, '-p', consumer, '--pretty', 'false'], consumer);
  assert.equal(r.stdout + r.stderr, '', 'a consumer of dist/index.d.ts compiles without better-sqlite3 or pg types');
  assert.equal(r.code, 0);
});

test('package.json: repository and bugs, a build before packing and after npm ci', () => {
  assert.match(PKG.repository?.url ?? '', /^git\+https:\/\/.+\.git$/);
  assert.match(PKG.bugs?.url ?? '', /^https:\/\/.+\/issues$/);
  assert.match(PKG.scripts['prepack'] ?? '', /npm run build/);
  assert.match(PKG.scripts['prepare'] ?? '', /npm run build/);
  assert.ok(readFileSync(join(ROOT, 'LICENSE'), 'utf8').startsWith('MIT License'));
});

test('every request says User-Agent: sailbatch/<version>, the pre-flight and polls included', async (t) => {
  const dir = testDir(t);
  const sim = await simFor(t);
  const input = join(dir, 'in.jsonl');
  writeWorkload(input, 5);
  const r = await runCli(['run', input, '-o', join(dir, 'out.jsonl'), '--base-url', sim.url, '--poll-interval', '20ms']);
  assert.equal(r.code, 0, r.stderr);
  const s = sim.stats();
  assert.ok(s.posts >= 5 && s.gets >= 1);
  assert.deepEqual(s.userAgents, { [`sailbatch/${PKG.version}`]: s.posts + s.gets });
});
