/**
 * A checkpoint as a large run leaves it, built through the store itself in pages: every job
 * inserted, submitted, and all but 1% finished (2% of those failed) with a result carrying usage.
 * The store and startup parts time what is done with it.
 */
import { SqliteStore } from '../src/checkpoint/sqlite/sqlite-store.ts';
import type { JobUpdate, NewJob } from '../src/checkpoint/store.ts';
import { cpuUs } from './measure.ts';

const PAGE = 2_000;

const body = JSON.stringify({ model: 'openai/gpt-oss-20b', input: 'Summarise in one sentence: '.padEnd(200, 'lorem ipsum '), max_output_tokens: 256 });
const result = (i: number) =>
  JSON.stringify({
    id: `resp_${i}`,
    object: 'response',
    status: 'completed',
    output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'An answer of about a line. '.repeat(8) }] }],
    usage: { input_tokens: 60, output_tokens: 120, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 40 } },
  });

/** The store's own CPU microseconds per line of each step. */
export interface FixtureCost {
  insertUs: number;
  submitUs: number;
  finishUs: number;
}

/**
 * Builds the checkpoint at `file` with `n` lines. `whileOut`, if given, runs when every job is
 * out at the server and before any finishes (the `24h` window case), with the store open.
 */
export async function buildCheckpoint(file: string, n: number, whileOut?: (store: SqliteStore) => Promise<void>): Promise<FixtureCost> {
  const store = SqliteStore.open(file);
  try {
    await store.createBatch({
      inputPath: '/bench.jsonl', inputBytes: 0, inputSha256: '', namespace: 'bench', keySalt: 's', keyFingerprint: 'f',
      baseUrl: 'http://127.0.0.1:1', optionsJson: JSON.stringify({ concurrency: 64, leaseStaleMs: 30_000 }), createdAtMs: Date.now(),
    });
    let t = process.cpuUsage();
    for (let from = 0; from < n; from += PAGE) {
      const jobs: NewJob[] = [];
      for (let i = from; i < Math.min(n, from + PAGE); i++) {
        jobs.push({ idx: i, lineNo: i + 1, customId: `job-${i}`, url: '/v1/responses', body, bodySha256: 'a'.repeat(64), completionWindow: '24h', state: 'pending', idempotencyKey: `sb1_${i}`.padEnd(64, '0') });
      }
      await store.insertJobs(jobs);
    }
    const insertUs = cpuUs(t) / n;
    await store.markLoaded(0, '');

    const later = Date.now() + 3_600_000;
    t = process.cpuUsage();
    for (let from = 0; from < n; from += PAGE) {
      const page = await store.claimPending(PAGE);
      await store.apply(
        page.map((j): JobUpdate => ({ kind: 'submitted', idx: j.idx, attempt: 0, responseId: `resp_${j.idx}`, apiStatus: 'queued', requestId: null, nextPollAtMs: later + j.idx })),
        { posts: page.length },
      );
    }
    const submitUs = cpuUs(t) / n;
    await whileOut?.(store);

    t = process.cpuUsage();
    const toFinish = n - Math.ceil(n / 100);
    for (let from = 0; from < toFinish; from += PAGE) {
      const updates: JobUpdate[] = [];
      for (let i = from; i < Math.min(toFinish, from + PAGE); i++) {
        const failed = i % 50 === 7;
        updates.push({
          kind: 'finished', idx: i, attempt: 0, state: failed ? 'failed' : 'completed', responseId: null, apiStatus: failed ? 'failed' : 'completed',
          statusCode: 200, requestId: null, result: result(i), tokens: { input: 60, output: 120, cached: 0, reasoning: 40 }, parsed: null, errorCode: failed ? 'server_error' : null, errorMessage: failed ? 'the model failed' : null,
        });
      }
      await store.apply(updates, { gets: updates.length });
    }
    return { insertUs, submitUs, finishUs: cpuUs(t) / toFinish };
  } finally {
    await store.close();
  }
}
