import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import {
  MIGRATIONS,
  READABLE_FROM,
  SCHEMA_VERSION,
  SchemaTooNewError,
  assertSchemaReadable,
  migrate,
} from '../src/checkpoint/sqlite/migrations.ts';
import { CheckpointError } from '../src/errors.ts';
import { testDir } from './helpers/tmp.ts';

const open = (t: TestContext, file: string, options?: Database.Options) => {
  const db = new Database(file, options);
  t.after(() => db.close());
  return db;
};
const version = (db: Database.Database) => db.pragma('user_version', { simple: true }) as number;
const schema = (db: Database.Database) =>
  db.prepare(`SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`).all();

test('a fresh database gets every table and SCHEMA_VERSION', (t) => {
  const file = join(testDir(t), 'cp.sqlite');
  const db = open(t, file);
  assert.equal(version(db), 0);
  migrate(db, file);
  assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
  assert.equal(version(db), SCHEMA_VERSION);
  const tables = schema(db)
    .filter((r) => (r as { type: string }).type === 'table')
    .map((r) => (r as { name: string }).name);
  assert.deepEqual(tables, ['batch', 'counters', 'job_counts', 'job_totals', 'jobs', 'lease']);
  const indexes = schema(db).map((r) => (r as { name: string }).name);
  assert.ok(indexes.includes('jobs_state') && indexes.includes('jobs_due'), indexes.join(', '));
  assertSchemaReadable(db, file);
});

test('migrating twice is a no-op', (t) => {
  const file = join(testDir(t), 'cp.sqlite');
  const db = open(t, file);
  migrate(db, file);
  db.prepare('INSERT INTO counters (name, value) VALUES (?, ?)').run('posts', 3);
  const before = schema(db);
  migrate(db, file);
  assert.equal(version(db), SCHEMA_VERSION);
  assert.deepEqual(schema(db), before);
  assert.deepEqual(db.prepare('SELECT name, value FROM counters').all(), [{ name: 'posts', value: 3 }]);
});

test('every older version upgrades to the current one, keeping its rows', (t) => {
  for (let from = 1; from < SCHEMA_VERSION; from++) {
    const file = join(testDir(t), `v${from}.sqlite`);
    const db = open(t, file);
    for (let v = 0; v < from; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${from}`);
    db.prepare('INSERT INTO counters (name, value) VALUES (?, ?)').run('posts', 7);
    if (from < READABLE_FROM) assert.throws(() => assertSchemaReadable(db, file), /older than this build reads \(v6\); run `sailbatch run` on it once/);
    else assert.doesNotThrow(() => assertSchemaReadable(db, file), `v${from} is read as it is`);
    migrate(db, file);
    assert.equal(version(db), SCHEMA_VERSION);
    assert.deepEqual(db.prepare('SELECT value FROM counters').get(), { value: 7 });
  }
});

test('a second process that migrated first leaves nothing to do', (t) => {
  // Two runs started together on a new checkpoint both see version 0; the one that takes the
  // write lock second must not replay the migrations (it would fail on CREATE TABLE).
  const file = join(testDir(t), 'cp.sqlite');
  const winner = open(t, file);
  const loser = open(t, file);
  const pragma = loser.pragma.bind(loser);
  let raced = false;
  loser.pragma = ((source: string, options?: Database.PragmaOptions) => {
    const result = pragma(source, options);
    if (!raced && source === 'user_version') {
      raced = true;
      migrate(winner, file);
    }
    return result;
  }) as typeof loser.pragma;
  migrate(loser, file);
  assert.ok(raced);
  assert.equal(version(winner), SCHEMA_VERSION);
  assert.equal(pragma('user_version', { simple: true }), SCHEMA_VERSION);
});

test('a database from a newer sailbatch is refused, with the fix in the message', (t) => {
  const file = join(testDir(t), 'cp.sqlite');
  const db = open(t, file);
  migrate(db, file);
  db.pragma(`user_version = ${SCHEMA_VERSION + 3}`);
  const refused = (fn: () => unknown) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof SchemaTooNewError);
      assert.ok(e instanceof CheckpointError);
      assert.equal(e.name, 'SchemaTooNewError');
      assert.match(e.message, new RegExp(`schema v${SCHEMA_VERSION + 3}, this build supports v${SCHEMA_VERSION}; upgrade sailbatch`));
      assert.ok(e.message.startsWith(file));
      return true;
    });
  refused(() => migrate(db, file));
  refused(() => assertSchemaReadable(db, file));
  assert.equal(version(db), SCHEMA_VERSION + 3, 'nothing was written');
  db.close();
  refused(() => SqliteStore.open(file));
  refused(() => SqliteStore.open(file, { readonly: true }));
});

test('a read-only open of something that is not a checkpoint is refused', (t) => {
  const dir = testDir(t);
  const empty = join(dir, 'empty.sqlite');
  open(t, empty).exec('CREATE TABLE other (x INTEGER)');
  assert.throws(() => assertSchemaReadable(open(t, empty, { readonly: true }), empty), /not a sailbatch checkpoint/);
  assert.throws(() => SqliteStore.open(empty, { readonly: true }), (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, /not a sailbatch checkpoint \(no schema\); check --db/);
    return true;
  });
  assert.equal(version(open(t, empty)), 0, 'the read-only open wrote nothing');

  const text = join(dir, 'requests.jsonl');
  writeFileSync(text, '{"input":"hi"}\n'.repeat(200));
  assert.throws(() => SqliteStore.open(text, { readonly: true }), /not a sailbatch checkpoint/);
  assert.throws(() => SqliteStore.open(join(dir, 'missing.sqlite'), { readonly: true }), /no such checkpoint; check --db/);
});
