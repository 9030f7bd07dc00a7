import { createHash } from 'node:crypto';

/**
 * What the simulator "infers": text that is a pure function of the model and the request's text,
 * so a test can compute, for every input line, the exact output it must find in the results.
 */
export function requestText(body: Record<string, unknown>): string {
  const flatten = (content: unknown): string =>
    typeof content === 'string'
      ? content
      : Array.isArray(content)
        ? content.map((p) => (typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('')
        : '';
  const input = body['input'] ?? body['messages'];
  if (typeof input === 'string') return input;
  if (Array.isArray(input)) return input.map((m) => flatten((m as { content?: unknown }).content)).join('\n');
  return '';
}

export function simulatedText(model: string, text: string): string {
  const digest = createHash('sha256').update(`${model}\u0000${text}`).digest('hex').slice(0, 12);
  return `echo(${model}): ${text.slice(0, 200)} #${digest}`;
}

export function countTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

/** mulberry32: a tiny seeded PRNG, so fault schedules replay exactly from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
