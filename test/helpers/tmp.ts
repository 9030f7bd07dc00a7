import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh folder for one test (its SQLite file, input and output), removed when the test ends. */
export function testDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sailbatch-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
