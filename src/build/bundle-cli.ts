/**
 * Bundles the CLI, the second step of `npm run build`: tsc compiles the library (dist/ and its
 * .d.ts), then this replaces tsc's dist/cli/ with an esbuild bundle: dist/cli/bin.js holds the
 * parser and every command's yargs module, and each command's implementation is a chunk that
 * the command imports when it runs, as in the source.
 *
 * Why: a command that does little (`--version`, `--help`, `status`) spent most of its time in
 * Node's module loader, resolving, reading and linking some hundred small files (ours, yargs' and
 * its helpers'), one by one. One file for the parse leaves Node one file to load.
 *
 * yargs and the packages it imports are inlined; every other package stays an import from
 * node_modules, loaded by the command that uses it when that command runs (better-sqlite3 and pg
 * are native or have optional native parts and could not be inlined anyway). The licenses of the
 * inlined packages go to dist/cli/LICENSES.txt.
 *
 * yargs' platform shim finds its locale files relative to its own file, which inside the bundle
 * is dist/cli/bin.js; it finds none there and uses the English strings in its code, which is what
 * it used before: `main.ts` sets strings of its own (updateStrings), which turns locale
 * detection off, and the English file's strings are the ones in the code.
 */
import { build, type Plugin } from 'esbuild';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');
const OUT = join(ROOT, 'dist', 'cli');

/** Packages our source imports stay external, but yargs (and then whatever yargs imports). */
const inlineYargsOnly: Plugin = {
  name: 'inline-yargs-only',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const fromOurSource = args.importer.startsWith(SRC);
      if (fromOurSource && !/^yargs(\/|$)/.test(args.path)) return { external: true };
      return undefined;
    });
  },
};

/**
 * string-width, wherever yargs, cliui and wrap-ansi import it, behind the printable-ASCII fast
 * path that string-width 8 itself takes first: such a string is as wide as it is long. The real
 * module is required only when a string outside that range is measured (esbuild turns a
 * `require` of an ES module into a call that runs the module's top level then, not at startup),
 * because its top level builds an `Intl.Segmenter`, which loads ICU's segmentation data, and
 * yargs renders the help of the command being run on every invocation (it keeps it for error
 * messages): that cost every command 30–55 ms of CPU, for text that is all ASCII but a few words.
 */
const asciiFastStringWidth: Plugin = {
  name: 'ascii-fast-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.pluginData === 'real') return undefined;
      const real = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'real' });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'ascii-fast-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'ascii-fast-string-width' }, (args) => ({
      resolveDir: dirname(args.path),
      loader: 'js',
      contents: [
        'let real;',
        'export default function stringWidth(string, options) {',
        "  if (typeof string === 'string' && /^[\\u0020-\\u007E]*$/.test(string)) return string.length;",
        `  real ??= require(${JSON.stringify(args.path)}).default;`,
        '  return real(string, options);',
        '}',
      ].join('\n'),
    }));
  },
};

/**
 * The license text of every package the bundle inlined, for the copies of their code it carries;
 * once per name and version (npm installs some of them twice, nested under different parents).
 */
function licensesOf(inputs: string[]): string {
  const dirs = new Set<string>();
  for (const input of inputs) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.replace(/^[^:]+:/, ''));
    if (m) dirs.add(resolve(ROOT, m[1]!));
  }
  const texts = new Map<string, string>();
  for (const dir of dirs) {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; license: string };
    const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    if (!file) throw new Error(`${pkg.name}@${pkg.version} (${dir}): no LICENSE file to ship with its bundled copy`);
    texts.set(`${pkg.name}@${pkg.version} (${pkg.license})`, readFileSync(join(dir, file), 'utf8').trim());
  }
  return [...texts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([title, text]) => `${title}\n\n${text}\n`)
    .join(`\n${'-'.repeat(80)}\n\n`);
}

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  // The validation worker is a file of its own, as in the library: the pool starts it by its name
  // beside the module that holds the pool (here, a chunk in dist/cli/).
  entryPoints: { bin: join(SRC, 'cli', 'bin.ts'), 'validation-worker': join(SRC, 'input', 'validation-worker.ts') },
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Like tsc's maps beside the library: positions for `--enable-source-maps`, not the sources.
  sourcemap: true,
  sourcesContent: false,
  metafile: true,
  logLevel: 'warning',
  plugins: [asciiFastStringWidth, inlineYargsOnly],
});
writeFileSync(join(OUT, 'LICENSES.txt'), `The packages bundled into the sailbatch CLI (dist/cli) and their licenses.\n\n${licensesOf(Object.keys(result.metafile.inputs))}`);
chmodSync(join(OUT, 'bin.js'), 0o755);
