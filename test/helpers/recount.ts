import assert from 'node:assert/strict';
import { usagePathsOfAny } from '../../src/api/endpoints.ts';
import type { StoreReader } from '../../src/checkpoint/store.ts';

/*
 * The figures a store keeps up to date as it writes (counts per state, tokens, polls), recounted
 * from its rows in JS by the endpoints table's own usage paths: what `status` reads in constant
 * time must equal what a full scan finds, on either store, after any sequence of writes.
 */

const FIELDS = ['input', 'output', 'cached', 'reasoning'] as const;

function at(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

function usageOf(result: string | null): Record<string, unknown> | undefined {
  try {
    const usage = result === null ? undefined : (JSON.parse(result) as { usage?: unknown } | null)?.usage;
    return usage !== null && typeof usage === 'object' && !Array.isArray(usage) ? (usage as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export async function recount(store: StoreReader) {
  const counts: Record<string, number> = {};
  const tokens = { input: 0, output: 0, cached: 0, reasoning: 0 };
  let rows = 0;
  let polls = 0;
  let maxPolls = 0;
  let background = 0;
  for (let page = await store.jobsPage(-1, 1000); page.length > 0; page = await store.jobsPage(page.at(-1)!.idx, 1000)) {
    for (const r of page) {
      rows++;
      counts[r.state] = (counts[r.state] ?? 0) + 1;
      polls += r.pollCount;
      maxPolls = Math.max(maxPolls, r.pollCount);
      if (r.submittedAtMs !== null) background++;
      const usage = usageOf(r.result);
      if (!usage) continue;
      for (const f of FIELDS) {
        tokens[f] += Number(usagePathsOfAny(f).map((p) => at(usage, p)).find((x) => x !== undefined && x !== null) ?? 0);
      }
    }
  }
  return { counts, tokens, polls, background, maxPolls, rows };
}

/** The store's counts, totals and summary equal a recount of its rows. */
export async function assertKept(store: StoreReader, what: string): Promise<void> {
  const expected = await recount(store);
  const s = await store.summary();
  const counts = Object.fromEntries(Object.entries(s.counts).filter(([, n]) => n > 0));
  assert.deepEqual(counts, expected.counts, `${what}: counts`);
  assert.deepEqual(Object.fromEntries(Object.entries(await store.counts()).filter(([, n]) => n > 0)), expected.counts, `${what}: counts()`);
  assert.equal(s.total, expected.rows, `${what}: total`);
  assert.equal(await store.total(), expected.rows, `${what}: total()`);
  assert.deepEqual(s.tokens, expected.tokens, `${what}: tokens`);
  assert.equal(s.polls.total, expected.polls, `${what}: polls`);
  assert.equal(s.polls.meanPerJob, expected.background === 0 ? 0 : expected.polls / expected.background, `${what}: background jobs`);
  assert.ok(s.polls.maxPerJob >= expected.maxPolls, `${what}: max polls is a high-water mark`);
}
