import { POLL_GROWTH, WINDOW_CADENCE, deadlineMs, isCompletionWindow, type WindowCadence } from '../api/completion-window.ts';

export interface PollOverrides {
  /** Replaces every window's first poll delay (and turns off learning it). */
  pollIntervalMs?: number | undefined;
  /** Replaces every window's cap on the delay between polls. */
  maxPollIntervalMs?: number | undefined;
  /** Replaces every window's deadline (time from submission to `expired`). */
  jobDeadlineMs?: number | undefined;
}

function cadence(window: string | null): WindowCadence {
  return WINDOW_CADENCE[isCompletionWindow(window) ? window : '24h'];
}

/**
 * Jitter of later polls (± this share of the delay): they follow a restart or an outage, when many
 * fall due at once. First polls have none: they are spread in time already, by how fast their
 * jobs were sent, and any jitter only shuffles them. Even ±5% of 15 s interleaved jobs sent 1.5 s
 * apart (thousands of them), so that the polls, and the checkpoint writes they bring, came in an
 * order unrelated to the jobs' order in the file: a transaction of finished jobs then wrote a
 * scattered page per job instead of neighbouring rows together. Unjittered, the 24h window at
 * 50,000 lines writes 330 MB to the WAL and the file instead of 840 MB.
 */
const POLL_JITTER = 0.2;
/**
 * A first poll planned this close below the present estimate (a share of it) is made as planned:
 * the estimate moves by small steps once learned, and moving such a poll would cost a write
 * for little.
 */
const POSTPONE_BELOW = 0.9;

/**
 * Delay before poll number `pollCount` (0 = the first poll after submission): exponential from the
 * first delay (the window's, or `firstMs` when learned) up to its cap, with jitter after the
 * first so that jobs falling due together spread out.
 */
export function pollDelayMs(window: string | null, pollCount: number, o: PollOverrides, random: () => number, firstMs?: number): number {
  const c = cadence(window);
  const first = o.pollIntervalMs ?? firstMs ?? c.firstPollMs;
  const cap = Math.max(first, o.maxPollIntervalMs ?? c.maxPollMs);
  const base = Math.min(cap, first * POLL_GROWTH ** pollCount);
  return pollCount === 0 ? Math.round(base) : Math.round(base * (1 - POLL_JITTER + 2 * POLL_JITTER * random()));
}

export function jobDeadlineMs(window: string | null, o: PollOverrides): number {
  return o.jobDeadlineMs ?? deadlineMs(isCompletionWindow(window) ? window : '24h');
}

/** Share of jobs the first poll should find done: the rest cost a second GET. */
const DONE_AT_FIRST_POLL = 0.97;
/** Step of the estimate, in log space: how fast it follows a change in the server's pace. */
const STEP = 0.3;
/** Factor of the estimate on each running job found before any done (see START_FIRST_POLL_MS). */
const CLIMB = 2;
/** The first poll never comes sooner than this after the create's reply. */
const MIN_FIRST_POLL_MS = 10;
/**
 * Where every cadence's estimate starts: soon (the fastest window's first delay). Learning is
 * lopsided by design: a first poll that finds its job not done raises the estimate by a third,
 * one that finds it done lowers it by 1%. Started at the window's own delay (30 s for 24h), it took
 * hundreds of jobs to come down to a server that answers in seconds, and meanwhile every answer
 * waited up to 30 s for its first poll: a server that keeps a finished response for less than
 * that answers 404, and the job, paid for, ends `expired`. Started soon, the estimate climbs to a
 * slow server's pace within a few first polls, for a few GETs more at the start of a run: until a
 * first poll of the cadence finds its job done, each that finds it running doubles the estimate.
 * The climb is a chain (a poll planned with the new estimate reports only that long later), and
 * by thirds it took a dozen links, some 40 s to reach a server that answers in 15 s, while every
 * job sent meanwhile had its first poll moved again at each link (2.3 writes a job at 30,000
 * lines of the 24h window); doubling takes five.
 */
const START_FIRST_POLL_MS = WINDOW_CADENCE.asap.firstPollMs;

/**
 * When to look first. A window's cadence (completion-window.ts) is a guess made before the run
 * knows anything; the replies it sees say more. For each cadence, this keeps the delay after the
 * create's reply by which about 97% of jobs are done, learned from one bit per job: was it done
 * at its first poll? That bit is all a poll can tell (a job found done may have finished long
 * before), and it is what a quantile needs: stochastic gradient descent on the pinball loss moves
 * the estimate down a little on each "done" and up a lot on each "not yet" (in log space,
 * (1 - p) against p), so it settles where a share p of first polls find the job done. A poll
 * that comes much later than planned (the run was busy) says nothing about the estimate when it
 * finds the job done, and is skipped.
 *
 * The estimate starts soon (START_FIRST_POLL_MS) and never exceeds the window's first delay:
 * learning only makes first polls earlier than the fixed cadence, for servers faster than the
 * window says. Later polls grow from it as before. An explicit --poll-interval turns learning
 * off, and so do webhooks (`learns` false): polls are then a slow safety net on the window's
 * own cadence, and the webhook is what says a job is done.
 */
export class PollSchedule {
  private readonly first = new Map<WindowCadence, number>();
  /** The cadences a first poll has found done in: their estimate has left its climb. */
  private readonly sawDone = new Set<WindowCadence>();
  private readonly learns: boolean;

  constructor(
    private readonly o: PollOverrides,
    private readonly random: () => number,
    learns = true,
  ) {
    this.learns = learns && o.pollIntervalMs === undefined;
  }

  /** The learned first delay of this window's cadence (where learning starts until a first poll reports). */
  firstPollMs(window: string | null): number {
    const c = cadence(window);
    return this.first.get(c) ?? (this.learns ? Math.min(c.firstPollMs, START_FIRST_POLL_MS) : c.firstPollMs);
  }

  /**
   * When to poll instead a job whose first poll is due at `nowMs`, or null to poll it now. Jobs
   * sent before the first polls reported had their first poll planned from the early estimate:
   * at a few thousand submissions a second, thousands of them fall due long before a slow server
   * is done, each for a GET that finds it running. A first poll due well before the present
   * estimate (POSTPONE_BELOW) is moved to it, without a GET. Only while learning: otherwise the
   * plan was made with the same delay, and a webhook's "poll now" is never put off.
   */
  postponedFirstPoll(window: string | null, submittedAtMs: number, nowMs: number): number | null {
    if (!this.learns || nowMs >= submittedAtMs + POSTPONE_BELOW * this.firstPollMs(window)) return null;
    return submittedAtMs + this.delayMs(window, 0);
  }

  /** Delay before poll number `pollCount` of a job in `window` (0: the first after submission). */
  delayMs(window: string | null, pollCount: number): number {
    return pollDelayMs(window, pollCount, this.o, this.random, this.o.pollIntervalMs === undefined ? this.firstPollMs(window) : undefined);
  }

  /**
   * A job's first poll found it `done` (or not) `elapsedMs` after its create's reply. The
   * estimate moves only on polls that came close enough to it to say something about it.
   */
  observeFirstPoll(window: string | null, elapsedMs: number, done: boolean): void {
    if (!this.learns) return;
    const c = cadence(window);
    const current = this.firstPollMs(window);
    if (done && elapsedMs > current * 1.5) return;
    if (!done && elapsedMs < current * 0.5) return;
    if (done) this.sawDone.add(c);
    const next = this.sawDone.has(c) ? current * Math.exp(done ? -STEP * (1 - DONE_AT_FIRST_POLL) : STEP * DONE_AT_FIRST_POLL) : current * CLIMB;
    this.first.set(c, Math.min(c.firstPollMs, Math.max(MIN_FIRST_POLL_MS, next)));
  }
}
