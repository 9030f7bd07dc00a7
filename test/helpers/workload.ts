import { readFileSync, writeFileSync } from 'node:fs';
import { simulatedText } from '../../src/sim/deterministic.ts';

export const MODEL = 'openai/gpt-oss-20b';

export interface Expected {
  customId: string;
  text: string;
}

/**
 * Writes an n-line input mixing both line shapes of design.md (OpenAI Batch lines and bare
 * Responses bodies) and every completion window, and returns what each output line must hold.
 */
export function writeWorkload(path: string, n: number, windows: readonly string[] = ['asap', '15m', '24h', 'priority', 'standard', 'flex']): Expected[] {
  const lines: string[] = [];
  const expected: Expected[] = [];
  for (let i = 0; i < n; i++) {
    const customId = `job-${String(i).padStart(6, '0')}`;
    const prompt = `Question ${i}: what is ${i} squared?`;
    const window = windows[i % windows.length]!;
    if (i % 2 === 0) {
      lines.push(
        JSON.stringify({
          custom_id: customId,
          method: 'POST',
          url: '/v1/responses',
          body: { model: MODEL, input: prompt, metadata: { completion_window: window } },
        }),
      );
    } else {
      lines.push(JSON.stringify({ custom_id: customId, model: MODEL, input: [{ role: 'user', content: prompt }], metadata: { completion_window: window } }));
    }
    expected.push({ customId, text: simulatedText(MODEL, prompt) });
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return expected;
}

export interface OutputLine {
  id: string;
  custom_id: string | null;
  response: { status_code: number; request_id: string | null; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

export function readOutput(path: string): OutputLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OutputLine);
}

/** Asserts-ready comparison: every line completed, in order, with the simulator's text for its request. */
export function mismatches(out: OutputLine[], expected: Expected[]): string[] {
  const problems: string[] = [];
  if (out.length !== expected.length) problems.push(`output has ${out.length} lines, expected ${expected.length}`);
  expected.forEach((e, i) => {
    const o = out[i];
    if (!o) return;
    if (o.custom_id !== e.customId) problems.push(`line ${i + 1}: custom_id ${o.custom_id}, expected ${e.customId}`);
    else if (o.error) problems.push(`line ${i + 1}: error ${JSON.stringify(o.error)}`);
    else if (o.response?.body['output_text'] !== e.text) problems.push(`line ${i + 1}: text ${String(o.response?.body['output_text'])}`);
  });
  return problems.slice(0, 10);
}

/** What must match between two runs: everything but ids, request ids and timestamps. */
export function essence(line: OutputLine) {
  const body = line.response?.body;
  return {
    custom_id: line.custom_id,
    error: line.error,
    status_code: line.response?.status_code,
    status: body?.['status'],
    text: body?.['output_text'],
    usage: body?.['usage'],
  };
}
