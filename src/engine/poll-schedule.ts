import { POLL_GROWTH, WINDOW_CADENCE, deadlineMs, isCompletionWindow } from '../api/completion-window.ts';

export interface PollOverrides {
  /** Replaces every window's first poll delay. */
  pollIntervalMs?: number | undefined;
  /** Replaces every window's cap on the delay between polls. */
  maxPollIntervalMs?: number | undefined;
  /** Replaces every window's deadline (time from submission to `expired`). */
  jobDeadlineMs?: number | undefined;
}

function cadence(window: string | null) {
  return WINDOW_CADENCE[isCompletionWindow(window) ? window : '24h'];
}

/**
 * Delay before poll number `pollCount` (0 = the first poll after submission): exponential from the
 * window's first delay up to its cap, with ±20% jitter so jobs submitted together spread out.
 */
export function pollDelayMs(window: string | null, pollCount: number, o: PollOverrides, random: () => number): number {
  const c = cadence(window);
  const first = o.pollIntervalMs ?? c.firstPollMs;
  const cap = Math.max(first, o.maxPollIntervalMs ?? c.maxPollMs);
  const base = Math.min(cap, first * POLL_GROWTH ** pollCount);
  return Math.round(base * (0.8 + 0.4 * random()));
}

export function jobDeadlineMs(window: string | null, o: PollOverrides): number {
  return o.jobDeadlineMs ?? deadlineMs(isCompletionWindow(window) ? window : '24h');
}
