import { dryRunBatch, type DryRunReport } from '../engine/dry-run.ts';
import { EXIT } from '../errors.ts';
import { IssueDigest } from '../progress/issue-digest.ts';
import { describeDryRun } from './dry-run-report.ts';
import type { CliIo } from './io.ts';
import { argvToRunOptions, flagOf, type RunArgs } from './run-command.ts';

/** `run --dry-run` / `retry --dry-run`: no API key, no simulator, no request, no file. */
export async function executeDryRun(args: RunArgs, io: CliIo): Promise<number> {
  const { apiKey: _unused, ...options } = argvToRunOptions(args);
  const issues = new IssueDigest(io.stderr, { errorsFile: args['errors-file'], keepAll: args.json });
  let report: DryRunReport;
  try {
    report = await dryRunBatch(options, { signal: io.signal, onIssue: (issue) => issues.add(issue) }, flagOf);
  } finally {
    await issues.finish();
    io.result = issues.asJson();
  }
  if (args.json) io.result = { ...report, ...io.result };
  else io.stdout.write(describeDryRun(report));
  return EXIT.ok;
}
