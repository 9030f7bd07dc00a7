/**
 * What a user would write after Sail's quickstart: p-limit around each request, an idempotency
 * key derived from the line so a rerun does not pay twice, the response id kept and polled every
 * second until done (the quickstart does not look at the status the create returns), results
 * gathered in memory and written in input order. No checkpoint, no retries.
 *
 *   node --import tsx bench/clients/p-limit-script.ts <base-url> <input.jsonl> <output.jsonl> <concurrency>
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { TERMINAL, report, requestOf } from './request-line.ts';

const [base, file, output, concurrency] = process.argv.slice(2) as [string, string, string, string];
const limit = pLimit(Number(concurrency));
const counts = { posts: 0, gets: 0, completed: 0 };

async function call(method: 'GET' | 'POST', path: string, body?: unknown, key?: string): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { authorization: 'Bearer bench', 'content-type': 'application/json' };
  if (key) headers['idempotency-key'] = key;
  const res = await fetch(`${base}/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

async function runLine(line: string): Promise<string> {
  const { customId, body } = requestOf(line);
  const key = createHash('sha256').update(`${customId}\n${JSON.stringify(body)}`).digest('hex');
  const created = await limit(() => call('POST', 'responses', body, key));
  counts.posts++;
  let response = created;
  do {
    await sleep(1000);
    response = await limit(() => call('GET', `responses/${String(created['id'])}`));
    counts.gets++;
  } while (!TERMINAL.has(String(response['status'])));
  if (response['status'] === 'completed') counts.completed++;
  return JSON.stringify({ custom_id: customId, response: { status_code: 200, body: response }, error: null });
}

const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
const results = await Promise.all(lines.map(runLine));
writeFileSync(output, `${results.join('\n')}\n`);
report(counts);
