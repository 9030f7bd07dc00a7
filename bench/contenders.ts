import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timed, type Measure } from './measure.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
/** The built CLI; SAILBATCH_BIN points the benchmarks at another build (a copy kept while the tree changes). */
export const BIN = process.env['SAILBATCH_BIN'] ?? here('../dist/cli/bin.js');
const TSX = ['--import', 'tsx'];

/** One run of one client against a simulator, as the benchmark tables show it. */
export interface ClientRun {
  wallS: number;
  /** CPU of the client process as it measured itself (process.cpuUsage). */
  cpuMs: number;
  peakRssMb: number;
  completed: number;
}

function fail(what: string, m: Measure): never {
  throw new Error(`${what} exited ${m.code}:\n${m.stderr.slice(-2000)}\n${m.stdout.slice(-500)}`);
}

function selfReport(what: string, m: Measure): ClientRun {
  if (m.code !== 0) fail(what, m);
  const r = JSON.parse(m.stdout.trim().split('\n').at(-1)!) as { cpuMs: number; completed: number };
  return { wallS: m.wallS, cpuMs: r.cpuMs, peakRssMb: m.peakRssMb, completed: r.completed };
}

export async function runFloor(baseUrl: string, input: string, concurrency: number): Promise<ClientRun> {
  return selfReport('bare undici loop', await timed([...TSX, here('./clients/bare-loop.ts'), baseUrl, input, String(concurrency)]));
}

export async function runScript(baseUrl: string, input: string, concurrency: number): Promise<ClientRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-script-'));
  try {
    return selfReport('p-limit script', await timed([...TSX, here('./clients/p-limit-script.ts'), baseUrl, input, join(dir, 'out.jsonl'), String(concurrency)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `sailbatch run` as a user types it, plus `--json` for its own CPU figures. */
export async function runSailbatch(baseUrl: string, input: string, concurrency: number, extra: string[] = []): Promise<ClientRun & { sendCpuMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-run-'));
  try {
    const m = await timed(
      [BIN, 'run', input, '-o', join(dir, 'out.jsonl'), '--base-url', baseUrl, '--concurrency', String(concurrency), '--max-rps', '0', '--quiet', '--json', ...extra],
      { SAIL_API_KEY: 'bench' },
    );
    if (m.code !== 0) fail('sailbatch run', m);
    const s = JSON.parse(m.stdout) as { counts: { completed: number }; cpuMs: { load: number; send: number; write: number } };
    return {
      wallS: m.wallS,
      cpuMs: s.cpuMs.load + s.cpuMs.send + s.cpuMs.write,
      sendCpuMs: s.cpuMs.send,
      peakRssMb: m.peakRssMb,
      completed: s.counts.completed,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
