import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface RateLimitProxy {
  /** Base URL to give a client instead of the target's. */
  url: string;
  /** While on, every request is answered 429 (Retry-After: `retryAfterS`) instead of passed on. */
  storm(on: boolean): void;
  /** How many requests were answered 429. */
  refused(): number;
}

/**
 * A loopback proxy in front of the simulator for one client only: it passes every request on
 * unchanged, or, in a storm, answers 429 itself. Clients that talk to the simulator directly
 * never see those 429s, so a test can tell a backoff that was shared from one that was not.
 */
export async function rateLimitProxyFor(t: TestContext, targetUrl: string, retryAfterS = 0.2): Promise<RateLimitProxy> {
  const target = new URL(targetUrl);
  let storming = false;
  let refused = 0;
  const server = createServer((req, res) => {
    if (storming) {
      refused++;
      req.resume();
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfterS) });
      res.end(JSON.stringify({ error: { message: 'rate limited (test proxy)', type: 'rate_limit_error', code: null } }));
      return;
    }
    const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    storm: (on) => (storming = on),
    refused: () => refused,
  };
}
