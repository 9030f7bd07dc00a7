import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ApiError,
  ConnectionError,
  InvalidBodyError,
  TimeoutError,
  type Headers,
} from '../src/api/api-error.ts';
import {
  DEFAULT_POLICY,
  backoffDelay,
  classify,
  parseRetryAfter,
  retryDecision,
  type Classification,
} from '../src/api/retry-policy.ts';

// A whole second, so that HTTP dates (second precision) land exactly on it.
const NOW = Date.UTC(2030, 0, 2, 3, 4, 5);
const WHAT = 'POST /v1/responses';

const apiError = (status: number, code: string | null = null, headers: Headers = {}) =>
  ApiError.fromResponse(
    status,
    { error: { message: `server says ${status}`, type: 'invalid_request_error', param: null, code } },
    headers,
    WHAT,
  );

const verdictOf = (error: unknown, method: 'GET' | 'POST' = 'POST') => {
  const c = classify(error, method, NOW);
  return { verdict: c.verdict, reason: c.reason, throttle: c.throttle };
};

describe('classify', () => {
  test('network-level failures are transient', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    assert.deepEqual(verdictOf(new ConnectionError(WHAT, refused)), {
      verdict: 'retry',
      reason: 'connection_error',
      throttle: false,
    });
    assert.deepEqual(verdictOf(new TimeoutError(WHAT, 1000)), { verdict: 'retry', reason: 'timeout', throttle: false });
    const bad = new InvalidBodyError(`${WHAT}: not JSON`, 200, '<html>', {}, undefined);
    assert.deepEqual(verdictOf(bad), { verdict: 'retry', reason: 'invalid_body', throttle: false });
  });

  test('401 and 403 stop the run, on GET as on POST', () => {
    for (const method of ['GET', 'POST'] as const) {
      assert.deepEqual(verdictOf(apiError(401, 'invalid_api_key'), method), {
        verdict: 'fatal',
        reason: 'unauthorized',
        throttle: false,
      });
      assert.deepEqual(verdictOf(apiError(403), method), { verdict: 'fatal', reason: 'forbidden', throttle: false });
    }
  });

  test('404 means the response is gone on GET, but a bad request (unknown model) on POST', () => {
    assert.equal(verdictOf(apiError(404), 'GET').verdict, 'gone');
    assert.equal(verdictOf(apiError(404), 'GET').reason, 'response_not_found');
    const post = verdictOf(apiError(404, 'model_not_found'), 'POST');
    assert.deepEqual(post, { verdict: 'job', reason: 'model_not_found', throttle: false });
  });

  test('408 and 5xx are retried and carry the server hint', () => {
    for (const status of [408, 500, 502, 503]) {
      const c = classify(apiError(status, null, { 'retry-after': '3' }), 'POST', NOW);
      assert.equal(c.verdict, 'retry', `HTTP ${status}`);
      assert.equal(c.reason, `http_${status}`);
      assert.equal(c.retryAfterMs, 3000);
      assert.equal(c.throttle, false);
    }
  });

  test('409 "key in use" is retried; the same key reused with another body is a job error', () => {
    const inUse = classify(apiError(409, 'idempotency_key_in_use', { 'retry-after': '1' }), 'POST', NOW);
    assert.equal(inUse.verdict, 'retry');
    assert.equal(inUse.reason, 'idempotency_key_in_use');
    assert.equal(inUse.retryAfterMs, 1000);
    for (const status of [409, 422]) {
      assert.deepEqual(verdictOf(apiError(status, 'idempotency_key_reused')), {
        verdict: 'job',
        reason: 'idempotency_key_reused',
        throttle: false,
      });
    }
  });

  test('429 is retried and slows the whole run', () => {
    const c = classify(apiError(429, 'rate_limit_exceeded', { 'retry-after-ms': '250' }), 'POST', NOW);
    assert.deepEqual(c, { verdict: 'retry', reason: 'rate_limited', retryAfterMs: 250, throttle: true });
  });

  test('400 and 422 end the job with the server code, or the status when there is none', () => {
    assert.deepEqual(verdictOf(apiError(400, 'invalid_value')), { verdict: 'job', reason: 'invalid_value', throttle: false });
    const bare = ApiError.fromResponse(422, 'unprocessable', {}, WHAT);
    assert.deepEqual(verdictOf(bare), { verdict: 'job', reason: 'http_422', throttle: false });
  });

  test('anything that is not an API error is treated as transient', () => {
    assert.equal(verdictOf(new Error('boom')).verdict, 'retry');
    assert.equal(verdictOf('a string').reason, 'unknown_error');
  });
});

describe('parseRetryAfter', () => {
  const max = 60_000;
  const parse = (headers: Headers) => parseRetryAfter(headers, NOW, max);

  test('seconds, fractional seconds and an HTTP date', () => {
    assert.equal(parse({ 'retry-after': '2' }), 2000);
    assert.equal(parse({ 'retry-after': ' 1.5 ' }), 1500);
    assert.equal(parse({ 'retry-after': new Date(NOW + 7000).toUTCString() }), 7000);
  });

  test('retry-after-ms wins over retry-after', () => {
    assert.equal(parse({ 'retry-after-ms': '120', 'retry-after': '9' }), 120);
    assert.equal(parse({ 'retry-after-ms': ['80', '90'] }), 80);
  });

  test('garbage is ignored, and a garbage retry-after-ms falls back to retry-after', () => {
    assert.equal(parse({}), undefined);
    assert.equal(parse({ 'retry-after': 'soon' }), undefined);
    assert.equal(parse({ 'retry-after': '5s' }), undefined);
    assert.equal(parse({ 'retry-after': '' }), undefined);
    assert.equal(parse({ 'retry-after-ms': 'later' }), undefined);
    assert.equal(parse({ 'retry-after-ms': 'later', 'retry-after': '4' }), 4000);
  });

  test('past dates mean "now"; negative numbers are not a hint at all', () => {
    assert.equal(parse({ 'retry-after': new Date(NOW - 30_000).toUTCString() }), 0);
    assert.equal(parse({ 'retry-after': '-5' }), undefined);
    assert.equal(parse({ 'retry-after': '1 2' }), undefined);
    assert.equal(parse({ 'retry-after': '0' }), 0);
  });

  test('long hints are clamped to the maximum', () => {
    assert.equal(parse({ 'retry-after': '86400' }), max);
    assert.equal(parse({ 'retry-after-ms': '9999999' }), max);
    assert.equal(parse({ 'retry-after': new Date(NOW + 3_600_000).toUTCString() }), max);
  });
});

describe('backoffDelay', () => {
  const opts = { ...DEFAULT_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };

  test('full jitter: from 0 up to (not including) base * 2^n', () => {
    for (const n of [0, 1, 2, 3]) {
      assert.equal(backoffDelay(n, () => 0, opts), 0);
      const ceiling = 100 * 2 ** n;
      assert.equal(backoffDelay(n, () => 0.5, opts), ceiling / 2);
      const top = backoffDelay(n, () => 0.999999, opts);
      assert.ok(top < ceiling && top >= ceiling - 1, `retry ${n}: ${top} vs ${ceiling}`);
    }
  });

  test('the ceiling stops at the cap, however many retries', () => {
    for (const n of [4, 10, 100, 2000]) {
      const d = backoffDelay(n, () => 0.999999, opts);
      assert.ok(d < 1000 && d >= 999, `retry ${n}: ${d}`);
    }
  });

  test('uniform draws stay within bounds', () => {
    let seed = 42;
    const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 500; i++) {
      const n = i % 8;
      const d = backoffDelay(n, lcg, opts);
      assert.ok(Number.isInteger(d) && d >= 0 && d < Math.min(1000, 100 * 2 ** n), `${d}`);
    }
  });
});

describe('retryDecision', () => {
  const opts = { ...DEFAULT_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
  const transient: Classification = { verdict: 'retry', reason: 'http_503', throttle: false };

  test('retries a transient failure until the budget is spent', () => {
    assert.deepEqual(retryDecision(transient, 0, 3, () => 0.5, opts), [true, 50]);
    assert.deepEqual(retryDecision(transient, 2, 3, () => 0.5, opts), [true, 200]);
    assert.deepEqual(retryDecision(transient, 3, 3, () => 0.5, opts), [false, 0]);
    assert.deepEqual(retryDecision(transient, 0, 0, () => 0.5, opts), [false, 0]);
  });

  test('never retries a job, fatal or gone verdict', () => {
    for (const verdict of ['job', 'fatal', 'gone'] as const) {
      assert.deepEqual(retryDecision({ verdict, reason: 'x', throttle: false }, 0, 5, () => 0.5, opts), [false, 0]);
    }
  });

  test('a Retry-After hint is a floor under the jittered delay', () => {
    const hinted: Classification = { ...transient, retryAfterMs: 2000 };
    assert.deepEqual(retryDecision(hinted, 0, 3, () => 0, opts), [true, 2000]);
    for (const r of [0.1, 0.5, 0.99]) {
      const [again, delay] = retryDecision(hinted, 5, 10, () => r, opts);
      assert.equal(again, true);
      assert.ok(delay >= 2000 && delay < 2000 + 1000 / 4, `${delay}`);
    }
    const [, zero] = retryDecision({ ...transient, retryAfterMs: 0 }, 1, 3, () => 0, opts);
    assert.equal(zero, 0);
  });

  test('classify feeds retryDecision end to end', () => {
    const c = classify(apiError(429, null, { 'retry-after': '1' }), 'POST', NOW, opts);
    const [again, delay] = retryDecision(c, 0, 2, () => 0.5, opts);
    assert.equal(again, true);
    assert.equal(delay, 1000 + Math.floor(50 / 4));
    assert.deepEqual(retryDecision(classify(apiError(400), 'POST', NOW, opts), 0, 2, () => 0.5, opts), [false, 0]);
  });
});
