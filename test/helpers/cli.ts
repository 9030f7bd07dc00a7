import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Spawns the built CLI (what `npx sailbatch` runs) with a clean, loopback-only environment;
 * `stdin` is piped in (else stdin is closed).
 */
export function spawnCli(args: string[], env: Record<string, string> = {}, stdin?: string | Buffer): ChildProcess & { result: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', SAIL_API_KEY: 'test-key', SAILBATCH_PROGRESS: 'plain', ...env },
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  // A child that exits without reading all of it closes the pipe: not an error of the test's.
  child.stdin?.on('error', () => {});
  child.stdin?.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const result = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return Object.assign(child, { result });
}

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000, stdin?: string | Buffer): Promise<CliResult> {
  const child = spawnCli(args, env, stdin);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return child.result.finally(() => clearTimeout(timer));
}

/** Resolves once the child's stderr has printed `text` (or something matching it). */
export function waitForOutput(child: ChildProcess, text: string | RegExp): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const on = (d: Buffer) => {
      seen += d.toString();
      if (typeof text === 'string' ? seen.includes(text) : text.test(seen)) {
        child.stderr!.off('data', on);
        resolve();
      }
    };
    child.stderr!.on('data', on);
    child.on('close', () => resolve());
  });
}
