import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';

/**
 * Input tokens of a request, counted with o200k_base: the encoding of the gpt-oss models, so the
 * count is theirs; for any other model it is an estimate (their tokenizers differ, usually by a
 * few percent on English text). Only the prompt's text is counted, each text once: the chat
 * template the server wraps around messages adds a few tokens per message on top.
 */
export function inputTokens(body: Readonly<Record<string, unknown>>): number {
  let n = 0;
  for (const text of promptTexts(body)) n += countTokens(text);
  return n;
}

/** Whether o200k_base is the model's own tokenizer (so the count is exact rather than an estimate). */
export function exactTokenizer(model: string): boolean {
  return /(^|\/)gpt-oss-/.test(model);
}

function* contentTexts(content: unknown): Generator<string> {
  if (typeof content === 'string') yield content;
  else if (Array.isArray(content)) {
    for (const part of content) {
      const text = (part as { text?: unknown } | null)?.text;
      if (typeof text === 'string') yield text;
    }
  }
}

/** The texts of a request's prompt, whichever endpoint's shape: `input` (string or messages), `instructions`, `messages`. */
export function* promptTexts(body: Readonly<Record<string, unknown>>): Generator<string> {
  if (typeof body['instructions'] === 'string') yield body['instructions'];
  const input = body['input'] ?? body['messages'];
  if (typeof input === 'string') {
    yield input;
    return;
  }
  if (!Array.isArray(input)) return;
  for (const message of input) yield* contentTexts((message as { content?: unknown } | null)?.content);
}
