import { EventEmitter } from 'node:events';
import type { RunnerEventMap } from '../engine/events.ts';
import { runBatch, type RunSummary } from '../engine/runner.ts';
import { fromEnv } from '../option-env.ts';
import { defaultDbPath, STDIO } from '../options.ts';
import { EXIT, UsageError } from '../errors.ts';
import { formatCount, formatDuration, formatRequests, formatStateCounts, formatTokens, plural } from '../human-format.ts';
import { IssueDigest } from '../progress/issue-digest.ts';
import { describeCost, formatUsd } from '../cost/cost.ts';
import { attachReporter } from '../progress/reporter.ts';
import type { Simulator } from '../sim/simulator.ts';
import { parseDuration } from './duration.ts';
import type { CliIo } from './io.ts';
import { parseRunOptions } from '../parse-options.ts';
import { argvToRunOptions, flagOf, type RunArgs } from './run-command.ts';

export const SIMULATOR_KEY = 'sailbatch-simulator';

export function progressMode(stream: NodeJS.WriteStream): boolean {
  const forced = process.env['SAILBATCH_PROGRESS'];
  return forced === 'tty' ? true : forced === 'plain' ? false : Boolean(stream.isTTY);
}

export function describeSummary(s: RunSummary): string {
  const parts = formatStateCounts(s.counts);
  const wall = formatDuration(s.wallMs);
  const lines = s.stopped
    ? [`stopped after ${wall}: ${parts}.`, 'Rerun the same command to resume; nothing already sent will be paid for again.']
    : [`finished in ${wall}: ${formatCount(s.total)} ${plural(s.total, 'job')}, ${parts}.`, `results: ${s.output === STDIO ? 'written to stdout' : s.output}${s.errorsOutput ? `; lines that did not complete: ${s.errorsOutput}` : ''}`];
  if (s.resumed) lines.push(`resumed: ${formatCount(s.resumed.finishedBefore)} of ${formatCount(s.total)} ${plural(s.total, 'job')} had finished in earlier runs`);
  const notCompleted = s.total - s.counts.completed - s.counts.pending - s.counts.submitted - s.counts.not_sent_budget;
  if (!s.stopped && notCompleted > 0) {
    lines.push(
      `${formatCount(notCompleted)} ${plural(notCompleted, 'job')} did not complete (each has an error line in the results).`,
      'To send them again with new idempotency keys: `sailbatch retry` with the same arguments.',
    );
  }
  if (s.budget?.reached) {
    lines.push(
      `spending cap reached: ${formatUsd(s.budget.spentUsd)} spent of the ${formatUsd(s.budget.maxUsd)} cap (every run of this batch); ` +
        `${formatCount(s.counts.not_sent_budget)} ${plural(s.counts.not_sent_budget, 'line')} not sent (not_sent_budget in the results).`,
      'To go on, rerun the same command with a higher --max-cost: lines already answered are not paid for again.',
    );
  }
  if (s.outputRetries > 0) lines.push(`answers asked again after failing their checks (paid twice): ${formatCount(s.outputRetries)}`);
  for (const [m, f] of Object.entries(s.models ?? {})) {
    lines.push(`model ${m}: ${formatCount(f.jobs)} ${plural(f.jobs, 'job')}, ${formatStateCounts(f.counts)}; tokens ${formatTokens(f.tokens)}`);
  }
  lines.push(
    `tokens: ${formatTokens(s.tokens)}`,
    ...(s.cost ? [`cost: ${describeCost(s.cost)}`] : []),
    `requests this run: ${formatRequests(s.requests)}`,
    `polls per job: ${s.polls.meanPerJob.toFixed(1)} on average, ${formatCount(s.polls.maxPerJob)} at most`,
    `checkpoint: ${s.db}`,
  );
  return lines.join('\n');
}

export async function executeRun(args: RunArgs, io: CliIo): Promise<number> {
  // The dry run (with its tokenizer) and the simulator load only when asked for: a run starts without them.
  if (args['dry-run']) return (await import('./dry-run.ts')).executeDryRun(args, io);
  if (args.json && (args.output === STDIO || args.errors === STDIO)) {
    throw new UsageError(`--json and ${args.output === STDIO ? '-o' : '--errors'} - both want stdout (one JSON object, or the results): write the results to a file, or leave out --json`);
  }
  // Every flag is checked before anything starts: a usage error must not leave a server running.
  const raw = argvToRunOptions(args);
  // Always the simulator's own key: a real key is never sent to it, and its fingerprint keeps a
  // simulated checkpoint from ever being resumed against Sail (and vice versa).
  if (args.simulate) raw.apiKey = SIMULATOR_KEY;
  else if (!raw.apiKey && !fromEnv('apiKey')) throw new UsageError('no API key: pass --api-key or set SAIL_API_KEY (or try --simulate to run on the built-in simulator)');
  const options = parseRunOptions(raw, flagOf);
  const intervalMs = parseDuration('log-every', args['log-every']);
  const issues = new IssueDigest(io.stderr, { errorsFile: args['errors-file'], keepAll: args.json });
  let sim: Simulator | undefined;
  if (args.simulate) {
    // The simulator's journal sits beside the checkpoint, so a killed simulated run resumes as a real one would.
    const { startSimulator } = await import('../sim/simulator.ts');
    sim = await startSimulator({
      latencyMs: { asap: 150, standard: 300, flex: 600 },
      stateFile: `${options.db ?? defaultDbPath(options.output)}.sim.jsonl`,
    });
    options.baseUrl = sim.url;
    options.pollIntervalMs ??= 100;
    options.maxPollIntervalMs ??= 1_000;
    io.stderr.write(
      `SIMULATED RUN: answers come from sailbatch's built-in Sail simulator at ${sim.url}, not from Sail.\n` +
        `No API key is used, nothing is billed, and the text is a deterministic echo of each request.\n`,
    );
  }
  const events = new EventEmitter<RunnerEventMap>();
  events.on('run:phase', (p) => {
    if (p.phase !== 'loading') void issues.finish();
  });
  const detach = attachReporter(events, {
    stream: io.stderr,
    tty: progressMode(io.stderr),
    quiet: args.quiet,
    intervalMs,
  });
  let summary: RunSummary;
  try {
    summary = await runBatch(options, {
      events,
      signal: io.signal,
      onIssue: (issue) => issues.add(issue),
    });
  } finally {
    detach();
    await issues.finish();
    io.result = issues.asJson();
    await sim?.stop();
  }
  io.result = { ...summary, ...io.result };
  if (!args.quiet || summary.exitCode !== EXIT.ok) io.stderr.write(`${describeSummary(summary)}\n`);
  return summary.exitCode;
}
