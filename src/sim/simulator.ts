import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isCompletionWindow, type CompletionWindow } from '../api/completion-window.ts';
import { bodySha256 } from '../api/idempotency-key.ts';
import { listen } from '../api/listen.ts';
import { readBody } from '../api/read-body.ts';
import { ENDPOINT_KINDS, isEndpoint, type Endpoint } from '../api/endpoints.ts';
import { MAX_NESTING, nestingTooDeepAt } from '../input/json-scan.ts';
import { safeParseWorded, zodProblems } from '../input/normalize.ts';
import { BODY_SCHEMAS } from '../input/schemas.ts';
import { requestText, seededRandom, simulatedText } from './deterministic.ts';
import { brokenAnswer, schemaAnswer } from './schema-answer.ts';
import { renderResponse, renderSyncReply, type ResponseRecord } from './render.ts';
import { appendJournal, readJournal, type JournalEntry } from './sim-journal.ts';
import { NO_FAULTS, hashUnit, outcomeFor, type SimFaults } from './faults.ts';

/** Simulated latency of one inference per window family, before per-request spread. */
export interface SimLatency {
  asap: number;
  standard: number;
  flex: number;
}

export interface SimOptions {
  /** @default 0 (any free port) */
  port: number;
  /** Only loopback is allowed. @default '127.0.0.1' */
  host: '127.0.0.1' | 'localhost' | '::1';
  /** Accepted Bearer tokens; empty accepts any non-empty token. @default [] */
  apiKeys: string[];
  /** @default { asap: 30, standard: 60, flex: 120 } (ms) */
  latencyMs: SimLatency;
  /** `sail`: pending/running as in Sail's schema; `openai`: queued/in_progress. @default 'sail' */
  statusVocabulary: 'sail' | 'openai';
  /** `string`: `output` is the text (Sail's schema); `items`: OpenAI's message items. @default 'string' */
  outputShape: 'string' | 'items';
  /** @default ['moonshotai/Kimi-K2.5', 'openai/gpt-oss-20b', 'openai/gpt-oss-120b'] */
  models: string[];
  /**
   * Models GET /models still lists but requests are refused for (404 model_not_found): a model
   * withdrawn while a batch runs, the one way a line's model can fail after the pre-flight. @default []
   */
  withdrawnModels: string[];
  faults: SimFaults;
  /** Journal file that keeps responses and idempotency keys across restarts; none by default. */
  stateFile?: string | undefined;
}

/** What callers pass: any subset, with faults and latencies merged over the defaults field by field. */
export type SimOptionsInput = Partial<Omit<SimOptions, 'faults' | 'latencyMs'>> & {
  faults?: Partial<SimFaults>;
  latencyMs?: Partial<SimLatency>;
};

export const DEFAULT_SIM_OPTIONS: SimOptions = {
  port: 0,
  host: '127.0.0.1',
  apiKeys: [],
  latencyMs: { asap: 30, standard: 60, flex: 120 },
  statusVocabulary: 'sail',
  outputShape: 'string',
  models: ['moonshotai/Kimi-K2.5', 'openai/gpt-oss-20b', 'openai/gpt-oss-120b'],
  withdrawnModels: [],
  faults: NO_FAULTS,
};

export interface SimStats {
  posts: number;
  gets: number;
  /** Inferences started: POSTs that were not idempotent replays. */
  inferences: number;
  /** POSTs answered from an idempotency key's stored response. */
  replays: number;
  /** Inferences of a request body that had been inferred before under this API key. */
  duplicateInferences: number;
  unauthorized: number;
  rejected: number;
  faults: Record<string, number>;
  webhooksSent: number;
  /** When the last request arrived (0: none yet): with `lastReadyAtMs`, a client's tail. */
  lastRequestAtMs: number;
  /** When the last inference finished (or will). */
  lastReadyAtMs: number;
  /** Longest gap between two consecutive POSTs: a client that pauses its submissions shows here. */
  maxPostGapMs: number;
  /** Requests by their User-Agent header ('' for none). */
  userAgents: Record<string, number>;
  /** Most requests that were in flight at once (open, not yet answered), over all clients. */
  peakInFlight: number;
}

interface KeyRecord {
  bodyHash: string;
  /** Background POSTs: the response to show again. */
  responseId?: string;
  /** Blocking requests: the stored reply, once there is one. */
  reply?: { status: number; body: unknown };
  inFlight: boolean;
  createdAtMs: number;
}

const WINDOW_FAMILY: Record<CompletionWindow, keyof SimLatency> = {
  asap: 'asap',
  priority: 'asap',
  '15m': 'standard',
  standard: 'standard',
  '24h': 'flex',
  flex: 'flex',
};

type Reply = { status: number; body: unknown; headers?: Record<string, string> };

const err = (status: number, message: string, type: string, code: string | null, param: string | null = null): Reply => ({
  status,
  body: { error: { message, type, param, code } },
});

const isLoopback = (host: string) => host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';

const MAX_BODY = 16 * 1024 * 1024;

/**
 * A Sail look-alike on loopback, for tests, the demo (`--simulate`) and benchmarks. It keeps
 * everything in memory, computes each response's status from the clock (no timer per response),
 * and counts what it did so tests can assert "exactly one inference per line".
 */
export class Simulator {
  readonly options: SimOptions;
  private readonly server: Server;
  private readonly responses = new Map<string, ResponseRecord>();
  private readonly keys = new Map<string, KeyRecord>();
  private readonly inferredBodies = new Set<string>();
  private readonly random: () => number;
  private readonly webhookTimers = new Set<NodeJS.Timeout>();
  private nextId = 1;
  private inFlight = 0;
  private windowStart = 0;
  private windowCount = 0;
  private lastPostAtMs = 0;
  private counts: SimStats = this.zero();

  constructor(options: SimOptionsInput = {}) {
    this.options = {
      ...DEFAULT_SIM_OPTIONS,
      ...options,
      latencyMs: { ...DEFAULT_SIM_OPTIONS.latencyMs, ...options.latencyMs },
      faults: { ...NO_FAULTS, ...options.faults },
    };
    this.random = seededRandom(this.options.faults.seed);
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  private zero(): SimStats {
    return {
      posts: 0,
      gets: 0,
      inferences: 0,
      replays: 0,
      duplicateInferences: 0,
      unauthorized: 0,
      rejected: 0,
      faults: {},
      webhooksSent: 0,
      userAgents: {},
      lastRequestAtMs: 0,
      lastReadyAtMs: 0,
      maxPostGapMs: 0,
      peakInFlight: 0,
    };
  }

  async start(): Promise<string> {
    if (this.options.stateFile) this.restore(this.options.stateFile);
    await listen(this.server, this.options.host, this.options.port, 'simulator on');
    return this.url;
  }

  private restore(file: string): void {
    for (const e of readJournal(file)) {
      const rec = e.response as ResponseRecord | undefined;
      if (rec) {
        this.responses.set(rec.id, rec);
        this.nextId = Math.max(this.nextId, Number(/(\d+)$/.exec(rec.id)?.[1] ?? 0) + 1);
      }
      if (e.key) this.keys.set(e.key, { bodyHash: e.bodyHash, responseId: rec?.id, reply: e.reply, inFlight: false, createdAtMs: Date.now() });
    }
  }

  private remember(entry: JournalEntry): void {
    if (this.options.stateFile) appendJournal(this.options.stateFile, entry);
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/v1`;
  }

  async stop(): Promise<void> {
    for (const t of this.webhookTimers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  stats(): SimStats {
    return structuredClone(this.counts);
  }

  /** Changes fault settings on a running simulator (tests turn faults on and off mid-run). */
  setFaults(faults: Partial<SimFaults>): void {
    Object.assign(this.options.faults, faults);
  }

  /**
   * Changes latencies on a running simulator: new responses take the new ones, and responses
   * still running finish no later than they would have under them. Tests hold a run mid-way with
   * a long latency and let it finish when they have seen what they came for, instead of racing
   * a fixed one. (Completion webhooks already scheduled keep their time.)
   */
  setLatency(latencyMs: Partial<SimLatency>): void {
    Object.assign(this.options.latencyMs, latencyMs);
    const now = Date.now();
    const longest = Math.max(...Object.values(this.options.latencyMs));
    for (const rec of this.responses.values()) rec.readyAtMs = Math.min(rec.readyAtMs, now + 1.5 * longest);
  }

  private fault(name: string): void {
    this.counts.faults[name] = (this.counts.faults[name] ?? 0) + 1;
  }

  private chance(rate: number): boolean {
    return rate > 0 && this.random() < rate;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight++;
    if (this.inFlight > this.counts.peakInFlight) this.counts.peakInFlight = this.inFlight;
    res.on('close', () => this.inFlight--);
    try {
      const body = await readBody(req, MAX_BODY);
      const reply = await this.route(req, res, body);
      if (reply) await this.send(res, reply, this.spared(req));
    } catch (e) {
      if (!res.headersSent) await this.send(res, err(500, `simulator error: ${(e as Error).message}`, 'server_error', null));
    }
  }

  private spared(req: IncomingMessage): boolean {
    return this.options.faults.spareModels && req.method === 'GET' && /\/models\/?$/.test(new URL(req.url ?? '/', 'http://sim').pathname);
  }

  private async send(res: ServerResponse, reply: Reply, spared = false): Promise<void> {
    if (res.destroyed) return;
    const f = spared ? NO_FAULTS : this.options.faults;
    if (this.chance(f.slowRate)) {
      this.fault('slow');
      // Unref'd: a held reply must not keep a stopped simulator's process alive (the server does while it runs).
      await new Promise((r) => setTimeout(r, f.slowMs).unref());
      if (res.destroyed) return;
    }
    let text = JSON.stringify(reply.body);
    if (reply.status < 300 && this.chance(f.garbageRate)) {
      this.fault('garbage');
      text = '<html><body>502 Bad Gateway (simulated garbage)</body></html>';
    }
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'x-request-id': `req_sim_${this.nextId++}`,
      ...reply.headers,
    });
    res.end(text);
  }

  private async route(req: IncomingMessage, res: ServerResponse, raw: string | null): Promise<Reply | null> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname.replace(/\/+$/, '');
    const arrived = Date.now();
    if (req.method === 'POST') {
      if (this.counts.posts++ > 0) this.counts.maxPostGapMs = Math.max(this.counts.maxPostGapMs, arrived - this.lastPostAtMs);
      this.lastPostAtMs = arrived;
    }
    if (req.method === 'GET') this.counts.gets++;
    this.counts.lastRequestAtMs = arrived;
    const agent = req.headers['user-agent'] ?? '';
    this.counts.userAgents[agent] = (this.counts.userAgents[agent] ?? 0) + 1;

    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    if (!token || (this.options.apiKeys.length > 0 && !this.options.apiKeys.includes(token))) {
      this.counts.unauthorized++;
      return err(401, 'Invalid or missing API key. Pass it as "Authorization: Bearer <key>".', 'authentication_error', 'invalid_api_key');
    }

    const f = this.spared(req) ? NO_FAULTS : this.options.faults;
    const now = Date.now();
    if (f.maxRequestsPerSecond > 0) {
      if (now - this.windowStart >= 1000) {
        this.windowStart = now;
        this.windowCount = 0;
      }
      if (++this.windowCount > f.maxRequestsPerSecond) return this.rateLimited('rate cap');
    }
    if (f.maxInFlight > 0 && this.inFlight > f.maxInFlight) return this.rateLimited('in-flight cap');
    if (this.chance(f.rateLimitRate)) return this.rateLimited('random');
    if (this.chance(f.serverErrorRate)) {
      const status = [500, 502, 503][Math.floor(this.random() * 3)]!;
      this.fault(`http_${status}`);
      return err(status, 'simulated server error', 'server_error', null);
    }

    if (req.method === 'GET' && path === '/v1/models') {
      return {
        status: 200,
        body: {
          object: 'list',
          data: [...this.options.models, ...this.options.withdrawnModels].map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'sail-simulator' })),
        },
      };
    }
    const m = /^\/v1\/responses\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && m) return this.getResponse(decodeURIComponent(m[1]!), token);
    if (req.method === 'POST' && isEndpoint(path)) {
      return this.create(req, res, path, raw, token);
    }
    return err(404, `No route ${req.method} ${path}`, 'invalid_request_error', 'not_found');
  }

  private rateLimited(why: string): Reply {
    this.fault(`429 ${why}`);
    const s = this.options.faults.retryAfterS;
    return { ...err(429, `Rate limit reached (${why}); retry after ${s}s`, 'rate_limit_error', 'rate_limit_exceeded'), headers: { 'retry-after': String(s) } };
  }

  private expired(rec: { readyAtMs: number } | { createdAtMs: number }, now: number): boolean {
    const after = this.options.faults.expireAfterMs;
    const t = 'readyAtMs' in rec ? rec.readyAtMs : rec.createdAtMs;
    return after > 0 && now > t + after;
  }

  private getResponse(id: string, token: string): Reply {
    const rec = this.responses.get(id);
    const now = Date.now();
    if (!rec || rec.apiKey !== token || this.expired(rec, now)) {
      if (rec) this.responses.delete(id);
      return err(404, `No response found with id '${id}'.`, 'invalid_request_error', 'not_found', 'response_id');
    }
    return { status: 200, body: renderResponse(rec, now, this.options) };
  }

  private async create(req: IncomingMessage, res: ServerResponse, endpoint: string, raw: string | null, token: string): Promise<Reply | null> {
    // Every walk over a body (validation, the body hash) recurses: past the limit the stack would
    // overflow and the reply be a 500, which clients retry as if the server were at fault.
    if (raw && nestingTooDeepAt(raw) >= 0) {
      return err(400, `Request body nests arrays and objects deeper than ${MAX_NESTING} levels.`, 'invalid_request_error', 'invalid_json');
    }
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return err(400, 'Request body is not valid JSON.', 'invalid_request_error', 'invalid_json');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return err(400, 'Request body must be a JSON object.', 'invalid_request_error', 'invalid_json');
    }
    const b = body as Record<string, unknown>;
    const rejected = this.validate(endpoint as Endpoint, b);
    if (rejected) {
      this.counts.rejected++;
      return rejected;
    }

    const idemKey = req.headers['idempotency-key'];
    const key = Array.isArray(idemKey) ? idemKey[0] : idemKey;
    if (key !== undefined && key.length > 255) {
      return err(400, `Idempotency-Key must be at most 255 characters (got ${key.length}).`, 'invalid_request_error', 'invalid_idempotency_key', 'Idempotency-Key');
    }
    const now = Date.now();
    const bodyHash = bodySha256({ endpoint, body: b });
    const scoped = key === undefined ? undefined : `${token}\u0000${key}`;
    const existing = scoped === undefined ? undefined : this.keys.get(scoped);
    if (existing && this.expired(existing, now) && !existing.inFlight) this.keys.delete(scoped!);
    else if (existing) {
      if (existing.bodyHash !== bodyHash) {
        return err(422, 'This Idempotency-Key was already used with a different request body. Use a new key for a new request.', 'invalid_request_error', 'idempotency_key_reused', 'Idempotency-Key');
      }
      if (existing.inFlight) {
        return { ...err(409, 'A request with this Idempotency-Key is still in progress; retry later.', 'invalid_request_error', 'idempotency_key_in_use', 'Idempotency-Key'), headers: { 'retry-after': '1' } };
      }
      this.counts.replays++;
      if (existing.responseId) {
        const rec = this.responses.get(existing.responseId);
        if (rec) return { status: 200, body: renderResponse(rec, now, this.options), headers: { 'idempotent-replayed': 'true' } };
      }
      if (existing.reply) return { ...existing.reply, headers: { 'idempotent-replayed': 'true' } };
    }

    this.counts.inferences++;
    const dedupe = `${token}\u0000${bodyHash}`;
    if (this.inferredBodies.has(dedupe)) this.counts.duplicateInferences++;
    this.inferredBodies.add(dedupe);

    const metadata = (b['metadata'] ?? {}) as Record<string, string>;
    const window = isCompletionWindow(metadata['completion_window']) ? metadata['completion_window'] : '24h';
    const model = b['model'] as string;
    const base = this.options.latencyMs[WINDOW_FAMILY[window]];
    const latency = Math.round(base * (0.5 + hashUnit(this.options.faults.seed, `latency\u0000${bodyHash}`)));
    const rec: ResponseRecord = {
      id: `${endpoint === '/v1/responses' ? 'resp' : endpoint === '/v1/messages' ? 'msg' : 'chatcmpl'}_sim${String(this.nextId++).padStart(8, '0')}`,
      apiKey: token,
      body: b,
      model,
      createdAtMs: now,
      readyAtMs: now + latency,
      outcome: endpoint === '/v1/responses' ? outcomeFor(this.options.faults, bodyHash) : 'completed',
      text: this.answer(endpoint as Endpoint, b, model, key),
    };
    this.counts.lastReadyAtMs = Math.max(this.counts.lastReadyAtMs, rec.readyAtMs);
    const keyRec: KeyRecord | undefined = scoped === undefined ? undefined : { bodyHash, inFlight: false, createdAtMs: now };
    if (scoped !== undefined) this.keys.set(scoped, keyRec!);

    if (endpoint === '/v1/responses' && b['background'] === true) {
      this.responses.set(rec.id, rec);
      if (keyRec) keyRec.responseId = rec.id;
      this.remember({ key: scoped, bodyHash, response: rec });
      this.scheduleWebhook(rec, metadata);
      if (this.chance(this.options.faults.dropAfterCreateRate)) {
        this.fault('dropped after create');
        res.socket?.destroy();
        return null;
      }
      return { status: 200, body: renderResponse(rec, now, this.options) };
    }

    if (keyRec) keyRec.inFlight = true;
    await new Promise((r) => setTimeout(r, latency).unref());
    const reply: Reply = { status: 200, body: endpoint === '/v1/responses' ? renderResponse(rec, rec.readyAtMs, this.options) : renderSyncReply(endpoint, rec) };
    if (endpoint === '/v1/responses') this.responses.set(rec.id, rec);
    if (keyRec) {
      keyRec.inFlight = false;
      keyRec.reply = { status: reply.status, body: reply.body };
      keyRec.createdAtMs = Date.now();
    }
    this.remember({ key: scoped, bodyHash, response: endpoint === '/v1/responses' ? rec : undefined, reply: { status: reply.status, body: reply.body } });
    return reply;
  }

  /** The answer's text: an echo of the request, or JSON following the schema it asked for. */
  private answer(endpoint: Endpoint, b: Record<string, unknown>, model: string, key: string | undefined): string {
    const text = requestText(b);
    const schema = ENDPOINT_KINDS[endpoint].schemaOf(b);
    if (!schema) return simulatedText(model, text);
    const seed = `${model}\u0000${text}`;
    const f = this.options.faults;
    const draw = key === undefined ? this.random() : hashUnit(f.seed, `answer\u0000${key}`);
    if (f.invalidAnswerRate > 0 && draw < f.invalidAnswerRate) {
      this.fault('invalid answer');
      return brokenAnswer(schema, seed, text);
    }
    return JSON.stringify(schemaAnswer(schema, seed, text));
  }

  private validate(endpoint: Endpoint, b: Record<string, unknown>): Reply | null {
    const parsed = safeParseWorded(BODY_SCHEMAS[endpoint], b);
    if (!parsed.success) {
      const first = zodProblems(parsed.error, '')[0]!;
      return err(400, `${first.field}: ${first.message}`, 'invalid_request_error', 'invalid_value', first.field || null);
    }
    if (!this.options.models.includes(b['model'] as string)) {
      return err(404, `The model '${String(b['model'])}' does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found', 'model');
    }
    const window = ((b['metadata'] ?? {}) as Record<string, unknown>)['completion_window'];
    if (window !== undefined && !isCompletionWindow(window)) {
      return err(400, `metadata.completion_window must be one of asap, 15m, 24h, priority, standard, flex`, 'invalid_request_error', 'invalid_value', 'metadata.completion_window');
    }
    return null;
  }

  /** Completion webhooks go to loopback URLs only: the simulator never sends traffic off the machine. */
  private scheduleWebhook(rec: ResponseRecord, metadata: Record<string, string>): void {
    const target = metadata['completion_webhook'];
    if (!target) return;
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return;
    }
    if (url.protocol !== 'http:' || !isLoopback(url.hostname)) return;
    const timer = setTimeout(() => {
      this.webhookTimers.delete(timer);
      const payload = JSON.stringify({ type: `response.${rec.outcome}`, data: { id: rec.id }, created_at: Math.floor(Date.now() / 1000) });
      const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) };
      if (metadata['webhook_token']) headers['authorization'] = `Bearer ${metadata['webhook_token']}`;
      const req = httpRequest(url, { method: 'POST', headers, timeout: 5_000 }, (res) => res.resume());
      req.on('error', () => {});
      req.on('timeout', () => req.destroy());
      req.end(payload);
      this.counts.webhooksSent++;
    }, Math.max(0, rec.readyAtMs - Date.now()));
    this.webhookTimers.add(timer);
  }
}

export async function startSimulator(options: SimOptionsInput = {}): Promise<Simulator> {
  const sim = new Simulator(options);
  await sim.start();
  return sim;
}

