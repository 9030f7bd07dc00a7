/**
 * Reading a final result whatever its shape: Sail's schema has `output` as a string, OpenAI's an
 * array of message items whose `output_text` parts are joined (as the OpenAI SDKs' `output_text`
 * does); chat completions and messages carry text in their own places.
 */
export function outputText(body: Record<string, unknown>): string | null {
  if (typeof body['output_text'] === 'string') return body['output_text'];
  const output = body['output'];
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) {
    const parts: string[] = [];
    for (const item of output as { type?: string; content?: { type?: string; text?: unknown }[] }[]) {
      if (item?.type !== 'message' || !Array.isArray(item.content)) continue;
      for (const c of item.content) if (c?.type === 'output_text' && typeof c.text === 'string') parts.push(c.text);
    }
    return parts.join('');
  }
  const choices = body['choices'];
  if (Array.isArray(choices)) {
    const content = (choices[0] as { message?: { content?: unknown } } | undefined)?.message?.content;
    return typeof content === 'string' ? content : null;
  }
  const content = body['content'];
  if (Array.isArray(content)) {
    return (content as { type?: string; text?: unknown }[])
      .filter((c) => c?.type === 'text' && typeof c.text === 'string')
      .map((c) => c.text as string)
      .join('');
  }
  return null;
}
