/**
 * The entry of `npm run bench`: every part in turn, or the parts named on the command line.
 *
 *   npm run bench                 # every part
 *   npm run bench -- runs         # one part (several names run in the order given)
 *   npm run bench -- --list       # the parts and what each measures
 *
 * Each part lives in its own file under bench/ and exports `bench()`; it is imported only when it
 * runs, so a part's dependencies (a PostgreSQL server, a large input) cost nothing to the others.
 * Sizes and other knobs are environment variables documented at the top of each part's file.
 * Build first (`npm run build`): parts run the built CLI as its own process.
 */
interface Part {
  about: string;
  load: () => Promise<{ bench: () => Promise<void> }>;
}

const PARTS: Record<string, Part> = {
  compare: { about: 'sailbatch vs a bare undici loop and a p-limit script: lines/s, CPU/line, GETs/line, peak RSS', load: () => import('./compare.ts') },
  million: { about: 'sailbatch at 100,000 and 1,000,000 lines: lines/s kept, peak RSS', load: () => import('./million.ts') },
  window: { about: 'the default 24h window vs asap at 100,000 lines: CPU/line, no pause in submissions', load: () => import('./window.ts') },
  validate: { about: 'the validation pass at 1,000,000 lines vs a plain split2 + JSON.parse loop', load: () => import('./validate.ts') },
  store: { about: "the SQLite store at 10,000 and 1,000,000 lines: write CPU per line, the dispatcher's calls, status time", load: () => import('./store.ts') },
  rows: { about: 'render-and-validate of 1,000,000 CSV rows through a template and schema vs the JSONL validation pass: rows/s, peak RSS', load: () => import('./rows.ts') },
  'dry-run': { about: '--dry-run (validation + o200k tokens + cost) vs the validation pass alone, on a mixed file', load: () => import('./dry-run.ts') },
  startup: { about: '`--version`, `--help` and `status` on a 1,000,000-line checkpoint, each as its own process: wall ms, CPU, peak RSS', load: () => import('./startup.ts') },
  runs: { about: 'whole runs through the CLI at several sizes: validation pass, full run, peak RSS', load: () => import('./whole-runs.ts') },
  'scale-out': {
    about: '20,000 lines through 1, 2 and 4 worker processes on one PostgreSQL, and SQLite with one: lines/s, CPU per 1,000 lines of each worker and of PostgreSQL',
    load: () => import('./scale-out.ts'),
  },
};

const names = process.argv.slice(2);
if (names.includes('--list') || names.includes('--help')) {
  for (const [name, p] of Object.entries(PARTS)) console.log(`${name.padEnd(12)} ${p.about}`);
  process.exit(0);
}
const unknown = names.filter((n) => !(n in PARTS));
if (unknown.length > 0) {
  console.error(`unknown bench part${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}; the parts are: ${Object.keys(PARTS).join(', ')}`);
  process.exit(2);
}
for (const name of names.length > 0 ? names : Object.keys(PARTS)) {
  console.log(`\n## ${name}: ${PARTS[name]!.about}\n`);
  await (await PARTS[name]!.load()).bench();
}
