import { spawn } from 'node:child_process';

/** What GNU time saw of one child process: its own peak RSS, wall time and CPU, plus its output. */
export interface Measure {
  code: number | null;
  peakRssMb: number;
  wallS: number;
  cpuS: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <args>` as its own process under GNU time, so that its peak RSS and CPU are its own
 * and not the benchmark's (the simulator runs in the benchmark's process).
 */
export function timed(args: string[], env: Record<string, string> = {}): Promise<Measure> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'BENCH %M %e %U %S', process.execPath, ...args], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /BENCH (\d+) ([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(err);
      if (!m) return reject(new Error(`no GNU time figures from node ${args.join(' ')}:\n${err.slice(-2000)}`));
      resolve({
        code,
        peakRssMb: Number(m[1]) / 1024,
        wallS: Number(m[2]),
        cpuS: Number(m[3]) + Number(m[4]),
        stdout: out,
        stderr: err.slice(0, m.index),
      });
    });
  });
}

/** Input sizes from an environment variable ("1000,100000"), else the defaults. */
export function sizesFrom(name: string, defaults: number[]): number[] {
  const v = process.env[name];
  if (!v) return defaults;
  const sizes = v.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`${name}=${v}: expected positive whole numbers separated by commas`);
  return sizes;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** CPU microseconds (user + system) this process spent since `from`. */
export function cpuUs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return d.user + d.system;
}
