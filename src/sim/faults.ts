import { createHash } from 'node:crypto';

/**
 * The faults the simulator can inject. Transport faults (429, 5xx, dropped connections, garbage,
 * slow replies) are drawn from a seeded RNG, so a test replays the same schedule from the same
 * seed. Outcome faults (failed, incomplete, cancelled) are a pure function of the seed and the
 * request body, so the same request ends the same way in every run: a run with transport
 * faults must produce the same results as a run without them.
 */
export interface SimFaults {
  /** Seed of the transport-fault RNG and of the outcome hash. @default 1 */
  seed: number;
  /** Share of requests answered 429 with Retry-After. @default 0 */
  rateLimitRate: number;
  /** Retry-After sent with every 429, in seconds. @default 1 */
  retryAfterS: number;
  /** Requests per second above which the simulator answers 429; 0 for no cap. @default 0 */
  maxRequestsPerSecond: number;
  /** Requests in flight above which it answers 429; 0 for no cap. @default 0 */
  maxInFlight: number;
  /** Share of requests answered 500, 502 or 503. @default 0 */
  serverErrorRate: number;
  /** Share of background POSTs that create the response, then drop the connection unanswered. @default 0 */
  dropAfterCreateRate: number;
  /** Share of successful replies whose body is not JSON. @default 0 */
  garbageRate: number;
  /** Share of replies delayed by `slowMs`. @default 0 */
  slowRate: number;
  /** Delay of a slow reply. @default 0 */
  slowMs: number;
  /** Transport faults spare GET /models, so a test of a run's faults is not stopped at its pre-flight. @default false */
  spareModels: boolean;
  /** Share of background responses that end `failed`. @default 0 */
  failRate: number;
  /** Share that end `incomplete` (max_output_tokens). @default 0 */
  incompleteRate: number;
  /** Share that end `cancelled`. @default 0 */
  cancelRate: number;
  /** Share that say `completed` but were cut at the output-token cap (`incomplete_details`). @default 0 */
  truncateRate: number;
  /**
   * Share of answers to a json_schema request that are not JSON or break the schema. Drawn per
   * idempotency key, not per body: a request asked again under a new key can get a good answer.
   * @default 0
   */
  invalidAnswerRate: number;
  /** A finished response (and its idempotency key) is forgotten this long after it finished; 0 for never. @default 0 */
  expireAfterMs: number;
}

export const NO_FAULTS: SimFaults = {
  seed: 1,
  rateLimitRate: 0,
  retryAfterS: 1,
  maxRequestsPerSecond: 0,
  maxInFlight: 0,
  serverErrorRate: 0,
  dropAfterCreateRate: 0,
  garbageRate: 0,
  slowRate: 0,
  slowMs: 0,
  spareModels: false,
  failRate: 0,
  incompleteRate: 0,
  cancelRate: 0,
  truncateRate: 0,
  invalidAnswerRate: 0,
  expireAfterMs: 0,
};

/** `truncated`: the status says completed, but the answer was cut at the output-token cap. */
export type Outcome = 'completed' | 'failed' | 'incomplete' | 'cancelled' | 'truncated';

/** A number in [0, 1) fixed by the seed and a string. */
export function hashUnit(seed: number, text: string): number {
  return createHash('sha256').update(`${seed}\u0000${text}`).digest().readUInt32BE(0) / 4294967296;
}

export function outcomeFor(faults: SimFaults, bodyKey: string): Outcome {
  let u = hashUnit(faults.seed, `outcome\u0000${bodyKey}`);
  if ((u -= faults.failRate) < 0) return 'failed';
  if ((u -= faults.incompleteRate) < 0) return 'incomplete';
  if ((u -= faults.cancelRate) < 0) return 'cancelled';
  if ((u -= faults.truncateRate) < 0) return 'truncated';
  return 'completed';
}
