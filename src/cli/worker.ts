import { EventEmitter } from 'node:events';
import type { RunnerEventMap } from '../engine/events.ts';
import { runWorker, type WorkerSummary } from '../engine/worker.ts';
import { EXIT, UsageError } from '../errors.ts';
import { fromEnv } from '../option-env.ts';
import { formatCount, formatDuration, formatRequests, formatStateCounts } from '../human-format.ts';
import { attachReporter } from '../progress/reporter.ts';
import { optionalDuration, parseDuration } from './duration.ts';
import type { CliIo } from './io.ts';
import { progressMode } from './run.ts';
import type { WorkerArgs } from './worker-command.ts';

function describeWorker(s: WorkerSummary): string {
  const head = s.stopped
    ? `worker stopped after ${formatDuration(s.wallMs)}; batch ${s.batch} goes on with the other workers (start this one again to rejoin).`
    : `batch ${s.batch} is done after ${formatDuration(s.wallMs)}: ${formatCount(s.total)} jobs, ${formatStateCounts(s.counts)}. ` +
      `\`sailbatch export --db <url> --batch ${s.batch} -o <file>\` writes the results (the \`run\` that started it writes them too).`;
  return `${head}\nrequests of this worker: ${formatRequests(s.requests)}. Database: ${s.db}`;
}

export async function executeWorker(args: WorkerArgs, io: CliIo): Promise<number> {
  if (!args['api-key'] && !fromEnv('apiKey')) throw new UsageError('no API key: pass --api-key or set SAIL_API_KEY (the key the batch was started with)');
  const events = new EventEmitter<RunnerEventMap>();
  const detach = attachReporter(events, {
    stream: io.stderr,
    tty: progressMode(io.stderr),
    quiet: args.quiet,
    intervalMs: parseDuration('log-every', args['log-every']),
  });
  let summary: WorkerSummary;
  try {
    summary = await runWorker(
      {
        db: args.db,
        batch: args.batch,
        apiKey: args['api-key'],
        baseUrl: args['base-url'],
        leaseStaleMs: optionalDuration('lease-stale', args['lease-stale']),
      },
      { events, signal: io.signal },
    );
  } finally {
    detach();
  }
  if (args.json) io.result = summary;
  if (!args.quiet || summary.exitCode !== EXIT.ok) io.stderr.write(`${describeWorker(summary)}\n`);
  return summary.stopped ? EXIT.interrupted : summary.exitCode;
}
