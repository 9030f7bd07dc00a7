import { dryRunBatch } from '../engine/dry-run.ts';
import { EXIT, formatIssue } from '../errors.ts';
import { describeDryRun } from './dry-run-report.ts';
import type { CliIo } from './io.ts';
import { argvToRunOptions, type RunArgs } from './run.ts';

/** `run --dry-run` / `retry --dry-run`: no API key, no simulator, no request, no file. */
export async function executeDryRun(args: RunArgs, io: CliIo): Promise<number> {
  const { apiKey: _unused, ...options } = argvToRunOptions(args);
  const report = await dryRunBatch(options, { signal: io.signal, onIssue: (issue) => io.stderr.write(`${formatIssue(issue)}\n`) });
  if (args.json) io.stdout.write(`${JSON.stringify(report)}\n`);
  else io.stdout.write(describeDryRun(report));
  return EXIT.ok;
}
