import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import { FatalRunError } from '../errors.ts';
import { ApiError, ConnectionError, InvalidBodyError, TimeoutError } from './api-error.ts';
import { DEFAULT_POLICY, classify, retryDecision, unreachableBoundMs, type Classification } from './retry-policy.ts';
import { Deadlines } from './deadlines.ts';
import { Exchange, type RawReply } from './exchange.ts';
import { Throttle } from './throttle.ts';
import { userAgent } from '../version.ts';

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
  /** The same bound before the API has answered anything (see unreachableBoundMs). @default unreachableAfterMs */
  firstContactTimeoutMs?: number;
  random?: () => number;
  onRequest?: (e: { method: string; path: string; status: number | undefined; ms: number }) => void;
  onRetry?: (e: { method: string; path: string; retry: number; reason: string; delayMs: number; message: string }) => void;
}

export interface ApiReply {
  status: number;
  body: Record<string, unknown>;
  /** The JSON text `body` was parsed from, as the server sent it. */
  text: string;
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

/** undici's own timeouts that remain on (connecting); headers and body are under the request's deadline. */
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT']);

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
  private readonly origin: string;
  private readonly basePath: string;
  private readonly auth: string;
  private readonly userAgent = userAgent();
  private readonly deadlines = new Deadlines();
  private readonly inFlight = new Set<{ exchange: Exchange; signal: AbortSignal | undefined }>();
  private readonly watched = new WeakSet<AbortSignal>();
  private readonly random: () => number;
  private lastAnswerMs = Date.now();
  private everAnswered = false;

  constructor(private readonly o: ClientOptions) {
    this.base = o.baseUrl.replace(/\/+$/, '');
    const url = new URL(this.base);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.auth = `Bearer ${o.apiKey}`;
    this.random = o.random ?? Math.random;
    this.throttle = new Throttle(o.concurrency, o.maxRequestsPerSecond);
    this.agent = new Agent({
      connections: o.concurrency + 2,
      keepAliveTimeout: 10_000,
      // Every request has its own deadline (Deadlines, one timer for the run); undici's would
      // replace a timer of its own on each request's parser, as many again as there are requests.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  async close(): Promise<void> {
    this.deadlines.close();
    await this.agent.close();
  }

  /** `endpoint` is the batch-file form ("/v1/responses") or a path under the base URL ("models"). */
  private path(endpoint: string): string {
    return `${this.basePath}/${endpoint.replace(/^\/?(v1\/)?/, '')}`;
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
    const headers: Record<string, string> = { authorization: this.auth, accept: 'application/json', 'user-agent': this.userAgent };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    const started = Date.now();
    let status: number | undefined;
    try {
      const request: Dispatcher.DispatchOptions = {
        origin: this.origin,
        path: this.path(endpoint),
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      };
      const raw = await this.exchange(request, what, timeoutMs, started, signal);
      status = raw.status;
      this.lastAnswerMs = Date.now();
      this.everAnswered = true;
      return this.reply(what, raw);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (signal?.aborted) throw err;
      if (TIMEOUT_CODES.has((err as { code?: string }).code ?? '')) throw new TimeoutError(what, timeoutMs, err);
      throw new ConnectionError(what, err);
    } finally {
      this.o.onRequest?.({ method, path: endpoint, status, ms: Date.now() - started });
    }
  }

  /** One HTTP exchange through the agent, under the request's own deadline and the run's signal. */
  private exchange(request: Dispatcher.DispatchOptions, what: string, timeoutMs: number, started: number, signal: AbortSignal | undefined): Promise<RawReply> {
    return new Promise<RawReply>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      // Our own deadline, not undici's headersTimeout: undici runs those on coarse (about 1 s)
      // timers. The run's signal reaches requests through one listener per signal (watch).
      const exchange = new Exchange(resolve, reject);
      const deadline = this.deadlines.add(timeoutMs, () => exchange.abort(new TimeoutError(what, timeoutMs)), started);
      const entry = { exchange, signal };
      this.inFlight.add(entry);
      if (signal) this.watch(signal);
      const end = () => {
        deadline.done = true;
        this.inFlight.delete(entry);
      };
      exchange.onEnd = end;
      this.agent.dispatch(request, exchange);
    });
  }

  /** The body parsed once: an ApiError for an HTTP error, InvalidBodyError for a 2xx that is not a JSON object. */
  private reply(what: string, raw: RawReply): ApiReply {
    let parsed: unknown;
    try {
      parsed = raw.text ? JSON.parse(raw.text) : undefined;
    } catch {
      parsed = raw.text;
    }
    if (raw.status >= 400) throw ApiError.fromResponse(raw.status, parsed, raw.headers, what);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidBodyError(
        `${what}: HTTP ${raw.status} with a body that is not a JSON object: ${raw.text.slice(0, 120)}`,
        raw.status,
        raw.text,
        raw.headers,
        'invalid_body',
      );
    }
    const rid = raw.headers['x-request-id'];
    return { status: raw.status, body: parsed as Record<string, unknown>, text: raw.text, requestId: (Array.isArray(rid) ? rid[0] : rid) ?? null };
  }

  /** Aborts this signal's requests in flight when it fires: one listener per signal, not per request. */
  private watch(signal: AbortSignal): void {
    if (this.watched.has(signal)) return;
    this.watched.add(signal);
    signal.addEventListener(
      'abort',
      () => {
        for (const r of this.inFlight) if (r.signal === signal) r.exchange.abort(signal.reason as Error);
      },
      { once: true },
    );
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
      if (!this.throttle.tryAcquire()) await this.throttle.acquire(opts.signal);
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
        const bound = unreachableBoundMs(this.everAnswered, {
          unreachableAfterMs: this.o.unreachableAfterMs,
          firstContactTimeoutMs: this.o.firstContactTimeoutMs ?? this.o.unreachableAfterMs,
        });
        if (c.verdict === 'retry' && c.throttle === false && now - this.lastAnswerMs > bound) {
          throw new FatalRunError(
            `${this.base} has not answered for ${Math.round((now - this.lastAnswerMs) / 1000)}s (last: ${error.message}). ` +
              `Check the network and --base-url, then rerun the same command to resume.`,
            { cause: error },
          );
        }
        if (c.throttle) this.throttle.rateLimited(c.retryAfterMs);
        // A 429 is the server asking us to wait, not a fault: it is paced by the throttle and
        // does not spend the budget meant for errors, but consecutive ones back off further.
        const [again, backoffMs] = c.throttle
          ? retryDecision(c, Math.min(limited++, 6), Infinity, this.random)
          : retryDecision(c, retries, this.o.maxRetries, this.random);
        if (!again) throw new RequestFailed(error, c);
        if (!c.throttle) retries++;
        // Waking past the bound would only stretch "within about 30 s" to a minute.
        const delayMs = c.throttle ? backoffMs : Math.max(0, Math.min(backoffMs, bound - (now - this.lastAnswerMs) + 1));
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
