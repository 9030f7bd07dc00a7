import type Database from 'better-sqlite3';
import type { BatchMeta } from '../store.ts';

const META = `input_path AS inputPath, input_bytes AS inputBytes, input_sha256 AS inputSha256, namespace,
  key_salt AS keySalt, key_fingerprint AS keyFingerprint, base_url AS baseUrl, options_json AS optionsJson,
  created_at_ms AS createdAtMs, loaded_at_ms AS loadedAtMs`;

function writeStatements(db: Database.Database) {
  return {
    insert: db.prepare(
      `INSERT INTO batch (id, input_path, input_bytes, input_sha256, namespace, key_salt, key_fingerprint,
         base_url, options_json, created_at_ms, loaded_at_ms)
       VALUES (1, @inputPath, @inputBytes, @inputSha256, @namespace, @keySalt, @keyFingerprint,
         @baseUrl, @optionsJson, @createdAtMs, NULL)`,
    ),
    recordInput: db.prepare('UPDATE batch SET input_bytes = ?, input_sha256 = ? WHERE id = 1'),
    markLoaded: db.prepare('UPDATE batch SET loaded_at_ms = ? WHERE id = 1'),
    setKey: db.prepare('UPDATE batch SET key_salt = @salt, key_fingerprint = @fingerprint WHERE id = 1'),
    bump: db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value'),
    set: db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
  };
}

/** The batch's one row (what it was made from, under which key) and its request counters. */
export class SqliteBatchRecord {
  private readonly get: Database.Statement;
  private readonly counterRows: Database.Statement;
  private readonly wStmts: ReturnType<typeof writeStatements> | undefined;

  constructor(db: Database.Database, readonly: boolean) {
    this.get = db.prepare(`SELECT ${META} FROM batch WHERE id = 1`);
    this.counterRows = db.prepare('SELECT name, value FROM counters');
    if (!readonly) this.wStmts = writeStatements(db);
  }

  private get w(): ReturnType<typeof writeStatements> {
    return this.wStmts!;
  }

  meta(): BatchMeta | undefined {
    return this.get.get() as BatchMeta | undefined;
  }

  create(meta: Omit<BatchMeta, 'loadedAtMs'>): void {
    this.w.insert.run(meta);
  }

  /** The size and hash of the input as the load read it. */
  recordInput(inputBytes: number, inputSha256: string): void {
    this.w.recordInput.run(inputBytes, inputSha256);
  }

  markLoaded(): void {
    this.w.markLoaded.run(Date.now());
  }

  setKey(salt: string, fingerprint: string): void {
    this.w.setKey.run({ salt, fingerprint });
  }

  counters(): Record<string, number> {
    return Object.fromEntries((this.counterRows.all() as { name: string; value: number }[]).map((r) => [r.name, r.value]));
  }

  bump(counters: Readonly<Record<string, number>>): void {
    for (const [name, value] of Object.entries(counters)) if (value) this.w.bump.run(name, value);
  }

  set(gauges: Readonly<Record<string, number>>): void {
    for (const [name, value] of Object.entries(gauges)) this.w.set.run(name, value);
  }
}
