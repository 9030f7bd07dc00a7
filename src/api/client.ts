import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { FatalRunError } from '../errors.ts';
import { ApiError, ConnectionError, InvalidBodyError, TimeoutError, type Headers } from './api-error.ts';
import { DEFAULT_POLICY, classify, retryDecision, type Classification } from './retry-policy.ts';
import { Throttle } from './throttle.ts';

export const DEFAULT_BASE_URL = 'https://api.sailresearch.com/v1';

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Most requests in flight at once. */
  concurrency: number;
  /** Request-rate cap, requests per second; 0 for none. */
  maxRequestsPerSecond: number;
  /** Timeout of one request to a background endpoint (POST /v1/responses, GET). */
  requestTimeoutMs: number;
  /** Timeout of one request to a synchronous endpoint, which holds the reply for the whole inference. */
  syncTimeoutMs: number;
  /** Retry budget of one request (server-requested waits on 429 do not spend it). */
  maxRetries: number;
  /** With no HTTP answer at all for this long, the run stops (exit 3) instead of retrying on. */
  unreachableAfterMs: number;
  random?: () => number;
  onRequest?: (e: { method: string; path: string; status: number | undefined; ms: number }) => void;
  onRetry?: (e: { method: string; path: string; retry: number; reason: string; delayMs: number; message: string }) => void;
}

export interface ApiReply {
  status: number;
  body: Record<string, unknown>;
  requestId: string | null;
}

/** The final error of a request that will not be retried, with the policy's verdict. */
export class RequestFailed extends Error {
  override name = 'RequestFailed';
  constructor(
    readonly error: ApiError,
    readonly classification: Classification,
  ) {
    super(error.message, { cause: error });
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Sail over undici: one keep-alive Agent for the run, Bearer auth, per-request timeouts, and
 * every failure turned into an ApiError and judged by the retry policy. POSTs are retried here
 * with the same Idempotency-Key on every try (undici's retry interceptor is not used: it does
 * not know which POSTs are safe to repeat).
 */
export class SailClient {
  readonly throttle: Throttle;
  private readonly agent: Agent;
  private readonly base: string;
  private readonly random: () => number;
  private lastAnswerMs = Date.now();

  constructor(private readonly o: ClientOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '');
    this.random = o.random ?? Math.random;
    this.throttle = new Throttle(o.concurrency, o.maxRequestsPerSecond);
    this.agent = new Agent({
      connections: o.concurrency + 2,
      keepAliveTimeout: 10_000,
      headersTimeout: o.syncTimeoutMs,
      bodyTimeout: o.syncTimeoutMs,
    });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** `endpoint` is the batch-file form ("/v1/responses") or a path under the base URL ("models"). */
  private url(endpoint: string): string {
    return `${this.base}/${endpoint.replace(/^\/?(v1\/)?/, '')}`;
  }

  private async once(
    method: 'GET' | 'POST',
    endpoint: string,
    body: unknown,
    idempotencyKey: string | undefined,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<ApiReply> {
    const what = `${method} ${endpoint}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.o.apiKey}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    const started = Date.now();
    let status: number | undefined;
    // Our own timer, not undici's headersTimeout: undici runs those on coarse (about 1 s) timers,
    // and a per-request controller lets the run's signal and the timeout both end the request
    // without tying a listener per request to the run's signal for the whole run.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await request(this.url(endpoint), {
        dispatcher: this.agent,
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
      status = res.statusCode;
      const text = await res.body.text();
      this.lastAnswerMs = Date.now();
      const resHeaders = res.headers as Headers;
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = text;
      }
      if (status >= 400) throw ApiError.fromResponse(status, parsed, resHeaders, what);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new InvalidBodyError(
          `${what}: HTTP ${status} with a body that is not a JSON object: ${text.slice(0, 120)}`,
          status,
          text,
          resHeaders,
          'invalid_body',
        );
      }
      const rid = resHeaders['x-request-id'];
      return { status, body: parsed as Record<string, unknown>, requestId: (Array.isArray(rid) ? rid[0] : rid) ?? null };
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (signal?.aborted) throw err;
      if (timedOut || TIMEOUT_CODES.has((err as { code?: string }).code ?? '')) throw new TimeoutError(what, timeoutMs, err);
      throw new ConnectionError(what, err);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      this.o.onRequest?.({ method, path: endpoint, status, ms: Date.now() - started });
    }
  }

  /**
   * One logical request: tries until it succeeds, the policy says stop, or the budget is spent.
   * Throws FatalRunError for run-wide failures and RequestFailed for everything else.
   */
  private async call(
    method: 'GET' | 'POST',
    endpoint: string,
    opts: { body?: unknown; idempotencyKey?: string | undefined; timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<ApiReply> {
    for (let retries = 0, limited = 0; ; ) {
      await this.throttle.acquire(opts.signal);
      try {
        const reply = await this.once(method, endpoint, opts.body, opts.idempotencyKey, opts.timeoutMs, opts.signal);
        this.throttle.succeeded();
        return reply;
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        const error = err as ApiError;
        const now = Date.now();
        const c = classify(error, method, now, DEFAULT_POLICY);
        if (c.verdict === 'fatal') {
          const fix =
            c.reason === 'insufficient_quota'
              ? 'Add credit or raise the quota of this API key'
              : 'Check the API key (--api-key or SAIL_API_KEY) and its permissions';
          throw new FatalRunError(
            `${error.message}. Every request would fail the same way, so the run stopped. ${fix}, then rerun the same command to resume.`,
            { cause: error },
          );
        }
        if (c.verdict === 'retry' && c.throttle === false && now - this.lastAnswerMs > this.o.unreachableAfterMs) {
          throw new FatalRunError(
            `${this.base} has not answered for ${Math.round((now - this.lastAnswerMs) / 1000)}s (last: ${error.message}). ` +
              `Check the network and --base-url, then rerun the same command to resume.`,
            { cause: error },
          );
        }
        if (c.throttle) this.throttle.rateLimited(c.retryAfterMs);
        // A 429 is the server asking us to wait, not a fault: it is paced by the throttle and
        // does not spend the budget meant for errors, but consecutive ones back off further.
        const [again, delayMs] = c.throttle
          ? retryDecision(c, Math.min(limited++, 6), Infinity, this.random)
          : retryDecision(c, retries, this.o.maxRetries, this.random);
        if (!again) throw new RequestFailed(error, c);
        if (!c.throttle) retries++;
        this.o.onRetry?.({ method, path: endpoint, retry: c.throttle ? limited : retries, reason: c.reason, delayMs, message: error.message });
        await sleep(delayMs, undefined, { signal: opts.signal });
      }
    }
  }

  createResponse(body: unknown, idempotencyKey: string, signal?: AbortSignal): Promise<ApiReply> {
    return this.call('POST', 'responses', { body, idempotencyKey, timeoutMs: this.o.requestTimeoutMs, signal });
  }

  getResponse(id: string, signal?: AbortSignal): Promise<ApiReply> {
    return this.call('GET', `responses/${encodeURIComponent(id)}`, { timeoutMs: this.o.requestTimeoutMs, signal });
  }

  /** A synchronous endpoint (chat completions, messages): the reply is the finished result. */
  createSync(endpoint: string, body: unknown, idempotencyKey: string, signal?: AbortSignal): Promise<ApiReply> {
    return this.call('POST', endpoint, { body, idempotencyKey, timeoutMs: this.o.syncTimeoutMs, signal });
  }

  listModels(signal?: AbortSignal): Promise<ApiReply> {
    return this.call('GET', 'models', { timeoutMs: this.o.requestTimeoutMs, signal });
  }
}
