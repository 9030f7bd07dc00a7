/**
 * Side by side against the same simulator (issue 7): sailbatch, a bare undici loop (the floor)
 * and a 60-line p-limit script (what a user would write), each as its own process, interleaved
 * and repeated, at zero latency and with 50 ms added to every reply. In those two settings the
 * simulator answers every create at once (inference takes no time), so what is measured is the
 * clients; in the third, responses take 25–75 ms, so the creates answer "pending" and what shows
 * is when each client polls.
 *
 *   npm run bench -- compare
 *   BENCH_COMPARE_LINES=20000 BENCH_REPEATS=1 npm run bench -- compare     # a quick run
 *   BENCH_SETTINGS=1,2 npm run bench -- compare                            # some settings only
 *
 * Per client and setting: lines/s (wall time of the whole process, including its start, reading
 * the input and writing the output), CPU ms per line (the process's own process.cpuUsage; for
 * sailbatch, the CPU its --json summary reports), GETs per line (counted by the simulator), peak
 * RSS (GNU time), the tail (last inference finished → last request the client sent), and the
 * ratios of sailbatch's lines/s to the floor's and the script's. Figures are medians of the repeats.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type SimOptionsInput } from '../src/sim/simulator.ts';
import { writeWorkload } from '../test/helpers/workload.ts';
import { runFloor, runSailbatch, runScript, type ClientRun } from './contenders.ts';
import { fmt, median, sizesFrom } from './measure.ts';

const CONCURRENCY = 64;
const INSTANT = { asap: 0, standard: 0, flex: 0 };

const RTT_50 = { slowRate: 1, slowMs: 50 };

export const SETTINGS: { name: string; sim: SimOptionsInput }[] = [
  { name: 'zero latency', sim: { latencyMs: INSTANT } },
  { name: '50 ms added to every reply', sim: { latencyMs: INSTANT, faults: RTT_50 } },
  // Creates answer "pending" here, so what shows is when each client polls.
  { name: '50 ms added to every reply, responses ready 25–75 ms after the create', sim: { latencyMs: { asap: 50, standard: 50, flex: 50 }, faults: RTT_50 } },
];

const CLIENTS = {
  floor: runFloor,
  script: runScript,
  sailbatch: (url: string, input: string, c: number) => runSailbatch(url, input, c),
} as const;
type ClientName = keyof typeof CLIENTS;

interface Sample extends ClientRun {
  getsPerLine: number;
  tailS: number;
}

/** One client on a fresh simulator; the simulator's counts give GETs and the tail. */
export async function sample(client: (url: string, input: string, c: number) => Promise<ClientRun>, sim: SimOptionsInput, input: string, n: number): Promise<Sample> {
  const s = await startSimulator(sim);
  try {
    const r = await client(s.url, input, CONCURRENCY);
    if (r.completed !== n) throw new Error(`${r.completed} of ${n} lines completed`);
    const st = s.stats();
    return { ...r, getsPerLine: st.gets / n, tailS: Math.max(0, st.lastRequestAtMs - st.lastReadyAtMs) / 1000 };
  } finally {
    await s.stop();
  }
}

export async function bench(): Promise<void> {
  const [n] = sizesFrom('BENCH_COMPARE_LINES', [100_000]) as [number];
  const repeats = sizesFrom('BENCH_REPEATS', [3])[0]!;
  const chosen = sizesFrom('BENCH_SETTINGS', SETTINGS.map((_, i) => i + 1));
  const settings = SETTINGS.filter((_, i) => chosen.includes(i + 1));
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-bench-compare-'));
  const samples = new Map<string, Sample[]>();
  try {
    const input = join(dir, 'in.jsonl');
    writeWorkload(input, n, ['asap']);
    for (let rep = 1; rep <= repeats; rep++) {
      for (const setting of settings) {
        for (const name of Object.keys(CLIENTS) as ClientName[]) {
          const x = await sample(CLIENTS[name], setting.sim, input, n);
          console.log(`# round ${rep}/${repeats}, ${setting.name}, ${name}: ${fmt(n / x.wallS)} lines/s, ${(x.cpuMs / n).toFixed(3)} ms CPU/line`);
          const k = `${setting.name}\u0000${name}`;
          samples.set(k, [...(samples.get(k) ?? []), x]);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n${fmt(n)} lines, concurrency ${CONCURRENCY}, median of ${repeats} interleaved round${repeats > 1 ? 's' : ''}:\n`);
  console.log('| setting | client | lines/s | CPU ms/line | GETs/line | peak RSS | tail | sailbatch ÷ this (lines/s) |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const setting of settings) {
    const rate = (name: ClientName) => median(samples.get(`${setting.name}\u0000${name}`)!.map((x) => n / x.wallS));
    for (const name of Object.keys(CLIENTS) as ClientName[]) {
      const xs = samples.get(`${setting.name}\u0000${name}`)!;
      const rates = xs.map((x) => n / x.wallS);
      const spread = xs.length > 1 ? ` (${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))})` : '';
      const ratio = name === 'sailbatch' ? '' : `${(rate('sailbatch') / rate(name)).toFixed(2)}×`;
      console.log(
        `| ${setting.name} | ${name} | ${fmt(rate(name))}${spread} | ${median(xs.map((x) => x.cpuMs / n)).toFixed(3)} | ` +
          `${median(xs.map((x) => x.getsPerLine)).toFixed(2)} | ${fmt(median(xs.map((x) => x.peakRssMb)))} MB | ${median(xs.map((x) => x.tailS)).toFixed(1)} s | ${ratio} |`,
      );
    }
  }
}
