import { writeFileSync } from 'node:fs';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';

export const MIXED_MODELS = ['openai/gpt-oss-20b', 'openai/gpt-oss-120b', 'moonshotai/Kimi-K2.5'] as const;
const WINDOWS = ['asap', '15m', '24h'] as const;

/** What one line asks for, as the test computes it by hand. */
export interface MixedLine {
  endpoint: '/v1/responses' | '/v1/chat/completions' | '/v1/messages';
  model: string;
  window: string;
  /** gpt-tokenizer's own count of the line's prompt text. */
  tokens: number;
  /** The line's own output cap, or undefined (the run's --max-output-tokens then applies). */
  cap: number | undefined;
}

/**
 * n lines mixing every shape sailbatch reads: OpenAI Batch lines for the three endpoints, bare
 * Responses bodies (string and message input), three models and three windows; every third line
 * (and every Messages line) sets its own output cap. Returns each line's hand-computed figures.
 */
export function writeMixedWorkload(path: string, n: number): MixedLine[] {
  const lines: string[] = [];
  const out: MixedLine[] = [];
  for (let i = 0; i < n; i++) {
    const model = MIXED_MODELS[i % 3]!;
    const window = WINDOWS[Math.floor(i / 3) % 3]!;
    const prompt = `Item ${i}: summarise why ${i * 7} apples outnumber ${i % 13} pears, in ${1 + (i % 5)} words.`;
    // Messages requires max_tokens; the other endpoints leave two lines in three uncapped.
    const cap = i % 3 === 0 || i % 5 === 3 ? 40 + (i % 50) : undefined;
    const metadata = { completion_window: window };
    const customId = `mixed-${i}`;
    let endpoint: MixedLine['endpoint'];
    switch (i % 5) {
      case 0:
        endpoint = '/v1/responses';
        lines.push(JSON.stringify({ custom_id: customId, method: 'POST', url: endpoint, body: { model, input: prompt, metadata, ...(cap ? { max_output_tokens: cap } : {}) } }));
        break;
      case 1:
        endpoint = '/v1/responses';
        lines.push(JSON.stringify({ custom_id: customId, model, input: [{ role: 'user', content: [{ type: 'input_text', text: prompt }] }], metadata, ...(cap ? { max_output_tokens: cap } : {}) }));
        break;
      case 2:
        endpoint = '/v1/chat/completions';
        lines.push(JSON.stringify({ custom_id: customId, method: 'POST', url: endpoint, body: { model, messages: [{ role: 'user', content: prompt }], metadata, ...(cap ? { max_completion_tokens: cap } : {}) } }));
        break;
      case 3:
        endpoint = '/v1/messages';
        lines.push(JSON.stringify({ custom_id: customId, method: 'POST', url: endpoint, body: { model, messages: [{ role: 'user', content: prompt }], metadata, ...(cap ? { max_tokens: cap } : {}) } }));
        break;
      default:
        endpoint = '/v1/responses';
        lines.push(JSON.stringify({ custom_id: customId, model, input: prompt, metadata, ...(cap ? { max_output_tokens: cap } : {}) }));
    }
    out.push({ endpoint, model, window, tokens: countTokens(prompt), cap });
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
  return out;
}
