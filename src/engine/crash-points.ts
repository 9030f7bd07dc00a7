import { subscribe } from 'node:diagnostics_channel';

/**
 * Named crash points, for crash tests only (like SQLite's own): with
 * SAILBATCH_CRASH_AT=<point>:<n> in the environment, the process kills itself with SIGKILL
 * (no cleanup, no flush, as `kill -9` or the OOM killer would) the n-th time it passes <point>.
 * Unset, `crashPoint` is a no-op check of one variable.
 */
export const CRASH_POINTS = [
  'post-sent',
  'post-replied',
  'checkpoint-written',
  'mid-poll',
  'output-writing',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

const spec = process.env['SAILBATCH_CRASH_AT'];
const [armedPoint, armedCount] = spec ? [spec.split(':')[0], Number(spec.split(':')[1] ?? 1)] : [undefined, 0];
let passes = 0;

export function crashPoint(point: CrashPoint): void {
  if (point !== armedPoint) return;
  if (++passes >= armedCount) process.kill(process.pid, 'SIGKILL');
}

// "After a POST is sent" happens inside undici, between the request body leaving and the reply
// arriving; its diagnostics channel is the only place that sees that moment.
if (armedPoint === 'post-sent') {
  subscribe('undici:request:bodySent', (message) => {
    const { request } = message as { request: { method: string } };
    if (request.method === 'POST') crashPoint('post-sent');
  });
}
