/** Hosts of this machine: a server there is reached on whatever port it got this time. */
const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

function identity(url: string): string {
  const u = new URL(url);
  const host = u.hostname.toLowerCase();
  const where = LOOPBACK.test(host) ? 'loopback' : u.host.toLowerCase();
  return `${u.protocol}//${where}${u.pathname.replace(/\/+$/, '')}`;
}

/**
 * Whether two base URLs reach the same API, for the resume check: scheme, host, port and path
 * compared as URLs (case, a trailing slash, a default port written out do not matter), and any
 * loopback address counts as one host on any port, since a local server (the simulator, a
 * proxy) gets a new port on each start.
 */
export function sameServer(a: string, b: string): boolean {
  try {
    return identity(a) === identity(b);
  } catch {
    return a === b;
  }
}
