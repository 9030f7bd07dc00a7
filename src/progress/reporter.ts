import cliProgress from 'cli-progress';
import type { RunnerEvents, RunnerEventMap } from '../engine/events.ts';

export interface ReporterOptions {
  /** Where progress goes (stderr: stdout is kept for --json). */
  stream: NodeJS.WriteStream;
  /** Draw bars (TTY) or write a plain line every `intervalMs` (cron, CI, pipes). */
  tty: boolean;
  quiet: boolean;
  intervalMs: number;
}

type Progress = RunnerEventMap['run:progress'][0];

function line(p: Progress): string {
  const c = p.counts;
  const done = c.completed + c.failed + c.incomplete + c.cancelled + c.expired + c.invalid;
  const notOk = done - c.completed;
  return (
    `${done}/${p.total} done (${c.completed} completed, ${notOk} not), ${c.submitted} at the server, ${c.pending} to send; ` +
    `${p.inFlight} requests in flight (limit ${p.allowed}); ${p.requests.posts} POST, ${p.requests.gets} GET, ${p.requests.retries} retries`
  );
}

/**
 * Turns engine events into what a person or a log file wants: bars on a TTY (cli-progress is
 * imported here and nowhere else), a plain line every few seconds and at each phase otherwise.
 */
export function attachReporter(events: RunnerEvents, o: ReporterOptions): () => void {
  if (o.quiet) {
    const warn = (w: { message: string }) => o.stream.write(`sailbatch: warning: ${w.message}\n`);
    events.on('run:warning', warn);
    return () => events.off('run:warning', warn);
  }
  const log = (msg: string) => o.stream.write(`${new Date().toISOString()} sailbatch: ${msg}\n`);
  let bars: cliProgress.MultiBar | undefined;
  let sent: cliProgress.SingleBar | undefined;
  let finished: cliProgress.SingleBar | undefined;
  let failed: cliProgress.SingleBar | undefined;
  let lastLine = 0;

  const onPhase = (e: RunnerEventMap['run:phase'][0]) => {
    if (e.phase !== 'running') stopBars();
    log(e.message);
  };
  const stopBars = () => {
    bars?.stop();
    bars = undefined;
  };
  const onProgress = (p: Progress) => {
    const c = p.counts;
    const ended = c.failed + c.incomplete + c.cancelled + c.expired + c.invalid;
    if (o.tty) {
      if (!bars) {
        bars = new cliProgress.MultiBar(
          {
            stream: o.stream,
            format: ' {name} |{bar}| {value}/{total} {percentage}% | {eta_formatted} left | {rate}',
            hideCursor: true,
            clearOnComplete: false,
            etaBuffer: 50,
            fps: 5,
          },
          cliProgress.Presets.shades_classic,
        );
        sent = bars.create(p.total, 0, { name: 'submitted', rate: '' });
        finished = bars.create(p.total, 0, { name: 'completed', rate: '' });
        failed = bars.create(p.total, 0, { name: 'failed   ', rate: '' });
      }
      const rate = `${p.inFlight} in flight, ${p.requests.retries} retries`;
      sent!.update(p.total - c.pending, { name: 'submitted', rate });
      finished!.update(c.completed, { name: 'completed', rate: '' });
      failed!.update(ended, { name: 'failed   ', rate: '' });
    } else if (Date.now() - lastLine >= o.intervalMs) {
      lastLine = Date.now();
      log(line(p));
    }
  };
  const onWarning = (w: { message: string }) => {
    if (bars) bars.log(`warning: ${w.message}\n`);
    else log(`warning: ${w.message}`);
  };
  const onInput = (p: { lines: number; bytes: number }) => {
    if (Date.now() - lastLine >= o.intervalMs) {
      lastLine = Date.now();
      log(`validated ${p.lines} lines (${(p.bytes / 1e6).toFixed(1)} MB)`);
    }
  };
  events.on('run:phase', onPhase);
  events.on('run:progress', onProgress);
  events.on('run:warning', onWarning);
  events.on('input:progress', onInput);
  return () => {
    stopBars();
    events.off('run:phase', onPhase);
    events.off('run:progress', onProgress);
    events.off('run:warning', onWarning);
    events.off('input:progress', onInput);
  };
}
