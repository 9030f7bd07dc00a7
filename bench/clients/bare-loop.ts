/**
 * The floor: the least a client can do. 64 loops over the input, each POSTing a line and GETting
 * it back until it is done (straight away, no sleep), with one undici Agent. No checkpoint, no
 * keys, no retries, no output file.
 *
 *   node --import tsx bench/clients/bare-loop.ts <base-url> <input.jsonl> <concurrency>
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { TERMINAL, report, requestOf } from './request-line.ts';

const [base, file, concurrency] = process.argv.slice(2) as [string, string, string];
const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
const agent = new Agent({ connections: Number(concurrency) });
const headers = { authorization: 'Bearer bench', 'content-type': 'application/json' };
const counts = { posts: 0, gets: 0, completed: 0 };

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ id: string; status: string }> {
  const res = await request(`${base}/${path}`, { dispatcher: agent, method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return (await res.body.json()) as { id: string; status: string };
}

let next = 0;
async function loop(): Promise<void> {
  while (next < lines.length) {
    const { body } = requestOf(lines[next++]!);
    let r = await call('POST', 'responses', body);
    counts.posts++;
    while (!TERMINAL.has(r.status)) {
      r = await call('GET', `responses/${r.id}`);
      counts.gets++;
    }
    if (r.status === 'completed') counts.completed++;
  }
}

await Promise.all(Array.from({ length: Number(concurrency) }, loop));
await agent.close();
report(counts);
