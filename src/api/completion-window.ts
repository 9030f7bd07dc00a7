/**
 * Completion windows: the seed docs name them `asap | 15m | 24h`, Sail's newer docs
 * `priority | standard | flex`. Both are accepted and sent as written (the line's own
 * metadata wins); each pair shares one polling cadence and one deadline.
 *
 * Cadence: a job's first poll comes `firstPollMs` after submission, then the delay grows by
 * `POLL_GROWTH` up to `maxPollMs`. A longer window means the server will take longer, so polling
 * early and often only costs requests.
 *
 * Deadline: a job still not terminal `nominalMs + graceMs` after submission ends `expired`, so a
 * response the server silently dropped does not keep a batch open forever. The grace is the
 * nominal window again, at least one hour.
 */
export const COMPLETION_WINDOWS = ['asap', '15m', '24h', 'priority', 'standard', 'flex'] as const;
export type CompletionWindow = (typeof COMPLETION_WINDOWS)[number];

export interface WindowCadence {
  /** Delay from submission to the first poll. */
  firstPollMs: number;
  /** Cap on the delay between polls. */
  maxPollMs: number;
  /** How long the window nominally is. */
  nominalMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const ASAP: WindowCadence = { firstPollMs: 1_000, maxPollMs: 10_000, nominalMs: 5 * MINUTE };
const QUARTER: WindowCadence = { firstPollMs: 5_000, maxPollMs: 60_000, nominalMs: 15 * MINUTE };
const DAY: WindowCadence = { firstPollMs: 30_000, maxPollMs: 10 * MINUTE, nominalMs: 24 * HOUR };

export const WINDOW_CADENCE: Readonly<Record<CompletionWindow, WindowCadence>> = {
  asap: ASAP,
  priority: ASAP,
  '15m': QUARTER,
  standard: QUARTER,
  '24h': DAY,
  flex: DAY,
};

export const POLL_GROWTH = 1.5;

/** Whether two window names are the same window in the two vocabularies (`asap` and `priority`, ...). */
export function sameWindow(a: CompletionWindow, b: CompletionWindow): boolean {
  return WINDOW_CADENCE[a] === WINDOW_CADENCE[b];
}

export function isCompletionWindow(value: unknown): value is CompletionWindow {
  return typeof value === 'string' && (COMPLETION_WINDOWS as readonly string[]).includes(value);
}

export function deadlineMs(window: CompletionWindow): number {
  const { nominalMs } = WINDOW_CADENCE[window];
  return nominalMs + Math.max(nominalMs, HOUR);
}
