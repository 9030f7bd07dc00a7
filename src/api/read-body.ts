import type { IncomingMessage } from 'node:http';

/**
 * The body of a request received over HTTP (by the simulator, by the webhook receiver), as text;
 * null when empty. Past `maxBytes` it rejects and drops the connection instead of buffering
 * whatever a client sends.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new Error(`request body over ${maxBytes} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length ? Buffer.concat(chunks).toString('utf8') : null));
    req.on('error', reject);
  });
}
