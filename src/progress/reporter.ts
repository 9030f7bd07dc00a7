import cliProgress from 'cli-progress';
import { TERMINAL_STATES } from '../checkpoint/job-states.ts';
import type { RunnerEvents, RunnerEventMap } from '../engine/events.ts';
import { countOf, formatCount, formatDuration, formatRate, formatRequests } from '../human-format.ts';
import { RateMeter } from './rate-meter.ts';
import { columnsOf, fitLine, wrapLine } from './terminal-width.ts';

export interface ReporterOptions {
  /** Where progress goes (stderr: stdout is kept for --json). */
  stream: NodeJS.WriteStream;
  /** Draw bars (TTY) or write a plain line every `intervalMs` (cron, CI, pipes). */
  tty: boolean;
  quiet: boolean;
  intervalMs: number;
}

type Progress = RunnerEventMap['run:progress'][0];
type Finished = RunnerEventMap['job:finished'][0];

/** Failed jobs are listed one by one up to here; past it a run with many failures would drown its log. */
const LISTED_FAILURES = 10;

function finishedOf(p: Progress): number {
  return TERMINAL_STATES.reduce((n, s) => n + p.counts[s], 0);
}

/** `left` rather than `eta`: cli-progress fills its own `{eta}` placeholder, from its own estimate. */
function pace(meter: RateMeter, remaining: number): { rate: string; left: string } {
  const r = meter.perSecond();
  const eta = meter.etaMs(remaining);
  const left = remaining <= 0 ? 'all done' : eta === undefined ? 'ETA -' : eta < 1_000 ? 'ETA <1s' : `ETA ${formatDuration(eta)}`;
  return { rate: r === undefined ? '-/s' : formatRate(r), left };
}

/** Why fewer requests are in flight than --concurrency allows, when the server's 429s are why. */
function limitNote(p: Progress): string {
  return p.throttledTo === null ? `limit ${formatCount(p.allowed)}` : `throttled by 429s: limit ${formatCount(p.throttledTo)}`;
}

function plainLine(p: Progress, finishedPace: { rate: string; left: string }): string {
  const c = p.counts;
  const done = finishedOf(p);
  return (
    `${formatCount(done)}/${formatCount(p.total)} finished (${formatCount(c.completed)} completed, ${formatCount(done - c.completed)} not), ` +
    `${formatCount(c.submitted)} at the server, ${formatCount(c.pending)} to send; ${finishedPace.rate}, ${finishedPace.left}; ` +
    `${countOf(p.inFlight, 'request')} in flight (${limitNote(p)}); ${formatRequests(p.requests)}`
  );
}

function failureLine(e: Finished): string {
  return `line ${e.line} (${e.customId}) ended ${e.state} on attempt ${e.attempt + 1}${e.error ? `: ${e.error}` : ''}`;
}

/**
 * SAILBATCH_PROGRESS=tty forces bars onto a stream that is not a terminal (a pipe that ends in
 * one, a test). cli-progress draws nothing on a non-TTY stream, so it gets a view that says TTY.
 */
function ttyView(stream: NodeJS.WriteStream): NodeJS.WriteStream {
  if (stream.isTTY) return stream;
  return {
    isTTY: true,
    columns: columnsOf(stream),
    write: (chunk: string, cb?: () => void) => stream.write(chunk, cb),
  } as unknown as NodeJS.WriteStream;
}

/**
 * Turns engine events into what a person or a log file wants: bars with rate and ETA on a TTY
 * (cli-progress is imported here and nowhere else), otherwise plain timestamped lines, one every
 * `intervalMs` and one at each phase change, with no escape codes or carriage returns.
 */
export function attachReporter(events: RunnerEvents, o: ReporterOptions): () => void {
  if (o.quiet) {
    const warn = (w: { message: string }) => o.stream.write(`sailbatch: warning: ${w.message}\n`);
    events.on('run:warning', warn);
    return () => events.off('run:warning', warn);
  }
  const sentMeter = new RateMeter();
  const finishedMeter = new RateMeter();
  let bars: cliProgress.MultiBar | undefined;
  let rows: { sent: cliProgress.SingleBar; finished: cliProgress.SingleBar; requests: cliProgress.SingleBar } | undefined;
  let last: Progress | undefined;
  let lastLineAt = 0;
  let lastLineOf: Progress | undefined;
  let failures = 0;
  // Bars belong to the running phase: while stopping, the few progress events left would draw a second set.
  let running = false;

  // On a TTY a failure line is cut at the terminal's edge (the results, `status` and --errors
  // hold the whole message); other lines among the bars are wrapped, as they must be read whole.
  const log = (msg: string, long: 'wrap' | 'cut' = 'wrap') => {
    const line = `sailbatch: ${msg}`;
    const width = columnsOf(o.stream);
    if (bars) bars.log(`${long === 'cut' ? fitLine(line, width) : wrapLine(line, width).join('\n')}\n`);
    else if (o.tty) o.stream.write(`${long === 'cut' ? fitLine(line, width) : line}\n`);
    else o.stream.write(`${new Date().toISOString()} ${line}\n`);
  };

  // Each bar line fits the terminal: the bar gives up columns first (down to 10), then the text is cut.
  const fitted =
    (format: string): cliProgress.GenericFormatter =>
    (options, params, payload) => {
      const width = columnsOf(o.stream);
      const render = (barsize: number) => cliProgress.Format.Formatter({ ...options, format, barsize }, params, payload);
      return fitLine(render(Math.max(10, Math.min(30, width - render(0).length))), width);
    };

  // A second Ctrl-C exits the process at once; the cursor the bars hid must come back.
  const stopBars = () => {
    process.off('exit', stopBars);
    // stop() draws the bars a last time but drops lines still waiting in bars.log(); update() writes them.
    bars?.update();
    bars?.stop();
    bars = undefined;
    rows = undefined;
  };

  const startBars = (p: Progress) => {
    bars = new cliProgress.MultiBar(
      {
        stream: ttyView(o.stream),
        format: fitted(' {name} |{bar}| {value}/{total} {percentage}% | {rate} | {left}{extra}'),
        formatValue: (v, options, type) => (type === 'value' || type === 'total' ? formatCount(v) : cliProgress.Format.ValueFormat(v, options, type)),
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    rows = {
      sent: bars.create(p.total, 0, { name: 'sent    ', rate: '', left: '', extra: '' }),
      finished: bars.create(p.total, 0, { name: 'finished', rate: '', left: '', extra: '' }),
      requests: bars.create(1, 0, { info: '' }, { format: fitted(' {info}') }),
    };
    process.on('exit', stopBars);
  };

  const drawBars = (p: Progress) => {
    if (!rows) startBars(p);
    const c = p.counts;
    const sent = p.total - c.pending;
    const done = finishedOf(p);
    const notOk = done - c.completed;
    rows!.sent.update(sent, { name: 'sent    ', ...pace(sentMeter, c.pending), extra: '' });
    rows!.finished.update(done, { name: 'finished', ...pace(finishedMeter, p.total - done), extra: notOk ? ` | ${formatCount(notOk)} not completed` : '' });
    rows!.requests.update(0, { info: `${p.inFlight} in flight (${limitNote(p)}) | ${formatRequests(p.requests)}${networkNote()}` });
  };

  // While the API does not answer, every line says why the run is waiting: it may wait up to ten
  // minutes before it gives up, and a log reader should not have to guess why nothing moves.
  let network: { message: string; at: number } | undefined;
  const networkNote = () => {
    if (!network || Date.now() - network.at > 2 * o.intervalMs) return '';
    return `; waiting on the network, last error ${formatDuration(Date.now() - network.at)} ago: ${network.message}`;
  };

  const writeLine = (p: Progress) => {
    lastLineAt = Date.now();
    lastLineOf = p;
    log(plainLine(p, pace(finishedMeter, p.total - finishedOf(p))) + networkNote());
  };

  const onProgress = (p: Progress) => {
    last = p;
    sentMeter.add(p.total - p.counts.pending);
    finishedMeter.add(finishedOf(p));
    if (o.tty) {
      if (running && p.total > 0) drawBars(p);
    } else if (Date.now() - lastLineAt >= o.intervalMs) {
      writeLine(p);
    }
  };

  const onPhase = (e: RunnerEventMap['run:phase'][0]) => {
    running = e.phase === 'running';
    if (!running) {
      stopBars();
      // The interval may not have come round since the last change: the log gets the final counts.
      if (!o.tty && last && last !== lastLineOf) writeLine(last);
    }
    log(e.message);
  };

  const onFinished = (e: Finished) => {
    if (e.state === 'completed') return;
    failures++;
    if (failures <= LISTED_FAILURES) log(failureLine(e), 'cut');
    if (failures === LISTED_FAILURES + 1) log('more jobs did not complete; they are counted, not listed (see `sailbatch status`, or --errors)');
  };

  const onWarning = (w: { message: string }) => log(`warning: ${w.message}`);

  const onRetry = (r: RunnerEventMap['request:retry'][0]) => {
    if (r.reason === 'connection_error' || r.reason === 'timeout') network = { message: r.message, at: Date.now() };
  };

  const onInput = (p: { lines: number; bytes: number }) => {
    if (Date.now() - lastLineAt < o.intervalMs) return;
    lastLineAt = Date.now();
    log(`validated ${formatCount(p.lines)} lines (${(p.bytes / 1e6).toFixed(1)} MB)`);
  };

  events.on('run:phase', onPhase);
  events.on('run:progress', onProgress);
  events.on('job:finished', onFinished);
  events.on('run:warning', onWarning);
  events.on('input:progress', onInput);
  events.on('request:retry', onRetry);
  return () => {
    stopBars();
    events.off('run:phase', onPhase);
    events.off('run:progress', onProgress);
    events.off('job:finished', onFinished);
    events.off('run:warning', onWarning);
    events.off('input:progress', onInput);
    events.off('request:retry', onRetry);
  };
}
