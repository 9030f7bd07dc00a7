import {
  ApiError,
  AuthenticationError,
  ConflictError,
  ConnectionError,
  InvalidBodyError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  TimeoutError,
  type Headers,
} from './api-error.ts';

/**
 * The one place that decides what a failed request means (design invariant 8). Pure: no I/O,
 * no clock, the random source injected, so every rule is unit-tested.
 *
 * - `retry`: transient. Connection errors, timeouts, 408, 409 "key in use" (the first request
 *   with this key is still running), 429, 5xx, and 2xx bodies that do not parse. Retried with
 *   the same idempotency key, so a retry can never pay twice.
 * - `job`: permanent for this job. Any other 4xx: a bad field, an unknown model, a key reused
 *   with another body. The job ends with the server's message; the batch goes on.
 * - `fatal`: permanent for the run. 401/403 and 429 insufficient_quota: every other request would fail the same way, so
 *   the run stops at once and a rerun after the fix resumes.
 * - `gone`: a GET that answers 404: the server no longer has the response (it expired).
 */
export type Verdict = 'retry' | 'job' | 'fatal' | 'gone';

export interface Classification {
  verdict: Verdict;
  /** Short machine-readable reason, used as error code and in logs. */
  reason: string;
  /** The server asked to wait this long (Retry-After), already clamped. */
  retryAfterMs?: number | undefined;
  /** A rate-limit signal: the whole run should slow down, not only this request. */
  throttle: boolean;
}

/** Error codes of a 409/422 that mean "this key was used with a different body": never retried. */
const KEY_REUSED_CODES = new Set(['idempotency_key_reused', 'idempotency_key_mismatch', 'idempotency_error']);

export interface PolicyOptions {
  /** Longest Retry-After honoured; longer hints are clamped to this. @default 60000 */
  maxRetryAfterMs: number;
  /** Backoff base: the first retry waits up to this long. @default 500 */
  baseDelayMs: number;
  /** Backoff cap. @default 30000 */
  maxDelayMs: number;
}

export const DEFAULT_POLICY: PolicyOptions = { maxRetryAfterMs: 60_000, baseDelayMs: 500, maxDelayMs: 30_000 };

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * `retry-after-ms` (OpenAI's extension) wins over `retry-after`, which is either seconds or an
 * HTTP date. Unparsable or negative hints are ignored; long ones are clamped to `maxMs`.
 */
export function parseRetryAfter(headers: Headers, nowMs: number, maxMs: number): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.min(Number(ms), maxMs);
  const ra = header(headers, 'retry-after')?.trim();
  if (!ra) return undefined;
  if (/^\d+(\.\d+)?$/.test(ra)) return Math.min(Number(ra) * 1000, maxMs);
  // An HTTP date names its weekday and month; Date.parse alone would also take "-5" or "1 2".
  const at = /[a-z]{3}/i.test(ra) ? Date.parse(ra) : Number.NaN;
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - nowMs), maxMs);
}

export function classify(
  error: unknown,
  method: 'GET' | 'POST',
  nowMs: number,
  options: PolicyOptions = DEFAULT_POLICY,
): Classification {
  const no = { throttle: false } as const;
  if (error instanceof AuthenticationError || error instanceof PermissionDeniedError) {
    return { verdict: 'fatal', reason: error instanceof AuthenticationError ? 'unauthorized' : 'forbidden', ...no };
  }
  if (error instanceof ConnectionError) return { verdict: 'retry', reason: 'connection_error', ...no };
  if (error instanceof TimeoutError) return { verdict: 'retry', reason: 'timeout', ...no };
  if (error instanceof InvalidBodyError) return { verdict: 'retry', reason: 'invalid_body', ...no };
  if (!(error instanceof ApiError) || error.status === undefined) {
    return { verdict: 'retry', reason: 'unknown_error', ...no };
  }
  const retryAfterMs = parseRetryAfter(error.headers, nowMs, options.maxRetryAfterMs);
  // OpenAI-style APIs answer an exhausted balance with 429 too; waiting will not fix it.
  if (error instanceof RateLimitError && error.code === 'insufficient_quota') return { verdict: 'fatal', reason: 'insufficient_quota', ...no };
  if (error instanceof RateLimitError) return { verdict: 'retry', reason: 'rate_limited', retryAfterMs, throttle: true };
  if (error.status >= 500 || error.status === 408) {
    return { verdict: 'retry', reason: `http_${error.status}`, retryAfterMs, ...no };
  }
  if (error.code && KEY_REUSED_CODES.has(error.code)) return { verdict: 'job', reason: 'idempotency_key_reused', ...no };
  if (error instanceof ConflictError) return { verdict: 'retry', reason: 'idempotency_key_in_use', retryAfterMs, ...no };
  if (error instanceof NotFoundError && method === 'GET') return { verdict: 'gone', reason: 'response_not_found', ...no };
  return { verdict: 'job', reason: error.code ?? `http_${error.status}`, ...no };
}

/** Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^n)). */
export function backoffDelay(retryNumber: number, random: () => number, options: PolicyOptions = DEFAULT_POLICY): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retryNumber);
  return Math.floor(random() * ceiling);
}

/**
 * What to do after failure number `retryNumber` (0-based) of one request: `[true, delayMs]` to try
 * again, `[false, 0]` when the verdict is not `retry` or the per-request budget is spent. A server
 * hint sets a floor under the jittered backoff, so a crowd of clients told "2 s" does not all
 * come back at exactly 2 s.
 */
export function retryDecision(
  c: Classification,
  retryNumber: number,
  maxRetries: number,
  random: () => number,
  options: PolicyOptions = DEFAULT_POLICY,
): [boolean, number] {
  if (c.verdict !== 'retry' || retryNumber >= maxRetries) return [false, 0];
  const jittered = backoffDelay(retryNumber, random, options);
  return [true, c.retryAfterMs !== undefined ? c.retryAfterMs + Math.floor(jittered / 4) : jittered];
}

/**
 * How long a run goes on retrying with no HTTP answer at all before it stops (exit 3). Before the
 * API has answered anything in this run, silence most likely means a wrong --base-url, a
 * firewall or no network: waiting long would only hide that, so the bound is short. Once the
 * API has answered, silence is most likely a network flapping at 3 a.m.: the run waits it out.
 */
export function unreachableBoundMs(everAnswered: boolean, o: { unreachableAfterMs: number; firstContactTimeoutMs: number }): number {
  return everAnswered ? o.unreachableAfterMs : Math.min(o.firstContactTimeoutMs, o.unreachableAfterMs);
}
