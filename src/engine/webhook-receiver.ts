import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../api/listen.ts';
import { readBody } from '../api/read-body.ts';
import { UsageError } from '../errors.ts';

const MAX_PAYLOAD = 64 * 1024;

/**
 * Completion webhooks (the seed docs' `completion_webhook` / `webhook_token` metadata). Sail calls
 * the URL with `Authorization: Bearer <webhook_token>` when a response finishes; the receiver
 * accepts a call only with this batch's token (compared in constant time), and then asks for
 * that response to be fetched at once. Anything else gets 401 and changes nothing.
 *
 * The token is an HMAC of the batch's identity under the API key: secret to anyone without the
 * key, and the same on every rerun of the same batch, so the request bodies sent (which carry
 * it) and hence their idempotency keys stay the same across resumes.
 */
export function webhookToken(apiKey: string, namespace: string, inputSha256: string): string {
  return createHmac('sha256', apiKey).update(`sailbatch-webhook\u0000${namespace}\u0000${inputSha256}`).digest('base64url');
}

function sameSecret(given: string, expected: string): boolean {
  // Digests make the lengths equal, as timingSafeEqual requires, without leaking the length.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The response id in a webhook payload, whatever envelope it comes in. */
function responseIdOf(payload: unknown): string | undefined {
  const p = payload as { data?: { id?: unknown }; id?: unknown; response_id?: unknown } | null;
  const id = p?.data?.id ?? p?.response_id ?? p?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new UsageError(`--webhook-listen must be host:port, e.g. 127.0.0.1:8080 (got "${value}")`);
  return { host: m[1] ?? m[2]!, port };
}

export interface WebhookStats {
  accepted: number;
  refused: number;
}

export interface WebhookReceiverOptions {
  /** A sender that has not delivered its whole call this long after it began is cut off. @default 10000 */
  requestTimeoutMs?: number;
}

/** Notifications are a few hundred bytes; a sender with the token is still only trusted this far. */
const MAX_CONNECTIONS = 512;

export class WebhookReceiver {
  readonly stats: WebhookStats = { accepted: 0, refused: 0 };
  private readonly server: Server;
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly token: string,
    /** Called with the response id of every authentic notification. */
    private readonly onCompleted: (responseId: string) => void,
    options: WebhookReceiverOptions = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.server = createServer({ headersTimeout: this.requestTimeoutMs, requestTimeout: this.requestTimeoutMs }, (req, res) => void this.handle(req, res));
    this.server.maxConnections = MAX_CONNECTIONS;
  }

  /**
   * The token and the declared size are checked before a byte of the body is read, so callers
   * without the token, or with too much to say, cost neither memory nor a waiting slot; the
   * body of an authentic call is capped and must arrive within the timeout.
   */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (status: number, error?: string) => {
      if (status >= 400) {
        this.stats.refused++;
        // Whatever the caller still sends is not read: the connection ends with the answer.
        res.setHeader('connection', 'close');
        res.on('finish', () => req.destroy());
      }
      res.writeHead(status, { 'content-type': 'application/json' }).end(error ? JSON.stringify({ error }) : undefined);
    };
    const auth = req.headers.authorization ?? '';
    const given = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (req.method !== 'POST' || !sameSecret(given, this.token)) return answer(401, 'invalid webhook token');
    if (Number(req.headers['content-length'] ?? 0) > MAX_PAYLOAD) return answer(413, 'payload too large');
    const slow = setTimeout(() => req.destroy(), this.requestTimeoutMs);
    const text = await readBody(req, MAX_PAYLOAD)
      .catch(() => undefined)
      .finally(() => clearTimeout(slow));
    if (text === undefined) {
      if (!res.destroyed) answer(413, 'payload too large');
      return;
    }
    let id: string | undefined;
    try {
      id = responseIdOf(JSON.parse(text ?? ''));
    } catch {
      id = undefined;
    }
    if (!id) return answer(400, 'no response id in the payload');
    this.stats.accepted++;
    this.onCompleted(id);
    answer(204);
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listen(this.server, host, port, '--webhook-listen');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
