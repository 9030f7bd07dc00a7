import { appendFileSync, existsSync, readFileSync } from 'node:fs';

/**
 * What the simulator must remember across processes for `--simulate` runs to resume like real
 * ones: each response it created, and each idempotency key with the reply stored for it. One
 * JSON object a line, appended as things happen; a torn last line (the process was killed
 * mid-write) is skipped on reading.
 */
export interface JournalEntry {
  /** Scoped idempotency key (API key and Idempotency-Key), when the request had one. */
  key?: string | undefined;
  bodyHash: string;
  response?: unknown;
  reply?: { status: number; body: unknown };
}

export function readJournal(file: string): JournalEntry[] {
  if (!existsSync(file)) return [];
  const out: JournalEntry[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as JournalEntry);
    } catch {
      // a torn write at the end of the file
    }
  }
  return out;
}

export function appendJournal(file: string, entry: JournalEntry): void {
  // Like the checkpoint beside it, the journal holds prompts and answers: its owner's only.
  appendFileSync(file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
}
