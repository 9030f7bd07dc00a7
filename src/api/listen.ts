import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../errors.ts';

const WHY: Record<string, string> = {
  EADDRINUSE: 'the port is in use by another program; choose another port (0 takes any free one)',
  EACCES: 'not allowed to listen there (ports below 1024 need privileges); choose a port from 1024 up',
  EADDRNOTAVAIL: 'this machine has no such address; use 127.0.0.1 or one of its own addresses',
};

/**
 * Starts a server listening, for the two servers sailbatch runs (the simulator, the webhook
 * receiver). A busy or forbidden port is the user's to fix, so it is a usage error naming the
 * address and what to do, never a stack trace.
 */
export async function listen(server: Server, host: string, port: number, what: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const why = WHY[e.code ?? ''] ?? `cannot listen (${e.message})`;
      reject(new UsageError(`${what} ${host}:${port}: ${why}`, { cause: e }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
