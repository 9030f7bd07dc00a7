
/**
 * Everything that differs between the three request kinds sailbatch sends, in one table, so
 * that code asks "where does this endpoint keep X" instead of comparing URL strings. Adding an
 * endpoint is adding a row here.
 */
export const ENDPOINTS = ['/v1/responses', '/v1/chat/completions', '/v1/messages'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

type Json = Record<string, unknown>;

/** Token fields of a result's `usage` object, as paths under it; the first present wins. */
export interface UsagePaths {
  input: readonly string[];
  output: readonly string[];
  /** Part of input served from the prompt cache. */
  cached: readonly string[];
  /** Part of output spent on reasoning. */
  reasoning: readonly string[];
}

export interface EndpointKind {
  url: Endpoint;
  /**
   * `background`: the POST returns a response id that is polled until it is terminal.
   * `sync`: the reply to the POST is the finished result.
   */
  mode: 'background' | 'sync';
  /** The body field that caps output tokens (filled from --max-output-tokens). */
  maxTokensField: string;
  /**
   * Fields a line may name the way another API does, moved to the field Sail documents (the
   * line's own value of that field wins); the old name is never sent beside the new one.
   */
  aliases: Readonly<Record<string, string>>;
  /** Fields set on every body of this kind, whatever the line says. */
  forced: Readonly<Json>;
  /**
   * The body fields of a request made from a rendered prompt and an optional system prompt
   * (as a first `developer` message); null for the system prompt where the endpoint refuses one.
   */
  promptBody(text: string, system: string | undefined): Json | null;
  /** The body field of Sail's prompt-cache routing hint, where the endpoint has one. */
  promptCacheKeyField: string | null;
  usage: UsagePaths;
  /** The answer's text in a final result, or null when it has none. */
  outputText(result: Json): string | null;
  /** Whether a result that says it finished was cut at the output-token cap. */
  truncated(result: Json): boolean;
  /** The JSON Schema a request body asks its answer to follow, if it asks for one. */
  schemaOf(body: Json): Json | undefined;
  /** The body asking for answers that follow `schema` (named `name`, as OpenAI requires a name). */
  withSchema(body: Json, name: string, schema: Json): Json;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Sail's schema has `output` as a string; OpenAI's is an array of message items whose
 * `output_text` parts are joined (as the OpenAI SDKs' `output_text` does).
 */
function responsesText(result: Json): string | null {
  if (typeof result['output_text'] === 'string') return result['output_text'];
  const output = result['output'];
  if (typeof output === 'string') return output;
  if (!Array.isArray(output)) return null;
  const parts: string[] = [];
  for (const item of output as { type?: string; content?: { type?: string; text?: unknown }[] }[]) {
    if (item?.type !== 'message' || !Array.isArray(item.content)) continue;
    for (const c of item.content) if (c?.type === 'output_text' && typeof c.text === 'string') parts.push(c.text);
  }
  return parts.join('');
}

function jsonSchemaFormat(format: unknown): Json | undefined {
  return isObject(format) && format['type'] === 'json_schema' && isObject(format['schema']) ? format['schema'] : undefined;
}

const RESPONSES: EndpointKind = {
  url: '/v1/responses',
  mode: 'background',
  maxTokensField: 'max_output_tokens',
  aliases: {},
  forced: { background: true },
  promptBody: (text, system) => ({ input: system === undefined ? text : [{ role: 'developer', content: system }, { role: 'user', content: text }] }),
  promptCacheKeyField: 'prompt_cache_key',
  usage: {
    input: ['input_tokens'],
    output: ['output_tokens'],
    cached: ['input_tokens_details.cached_tokens'],
    reasoning: ['output_tokens_details.reasoning_tokens'],
  },
  outputText: responsesText,
  truncated: (r) => isObject(r['incomplete_details']) && r['incomplete_details']['reason'] === 'max_output_tokens',
  schemaOf: (body) => (isObject(body['text']) ? jsonSchemaFormat(body['text']['format']) : undefined),
  withSchema: (body, name, schema) => ({
    ...body,
    text: { ...(isObject(body['text']) ? body['text'] : {}), format: { type: 'json_schema', name, schema } },
  }),
};

const CHAT: EndpointKind = {
  url: '/v1/chat/completions',
  mode: 'sync',
  maxTokensField: 'max_completion_tokens',
  // OpenAI's older name, still in many batch files; Sail documents only max_completion_tokens.
  aliases: { max_tokens: 'max_completion_tokens' },
  forced: {},
  promptBody: (text, system) => ({
    messages: [...(system === undefined ? [] : [{ role: 'developer', content: system }]), { role: 'user', content: text }],
  }),
  promptCacheKeyField: null,
  usage: {
    input: ['prompt_tokens'],
    output: ['completion_tokens'],
    cached: ['prompt_tokens_details.cached_tokens'],
    reasoning: ['completion_tokens_details.reasoning_tokens'],
  },
  outputText: (r) => {
    const content = Array.isArray(r['choices']) ? (r['choices'][0] as { message?: { content?: unknown } } | undefined)?.message?.content : undefined;
    return typeof content === 'string' ? content : null;
  },
  truncated: (r) => Array.isArray(r['choices']) && (r['choices'][0] as { finish_reason?: unknown } | undefined)?.finish_reason === 'length',
  schemaOf: (body) => {
    const f = body['response_format'];
    return isObject(f) && f['type'] === 'json_schema' && isObject(f['json_schema']) && isObject(f['json_schema']['schema'])
      ? f['json_schema']['schema']
      : undefined;
  },
  withSchema: (body, name, schema) => ({ ...body, response_format: { type: 'json_schema', json_schema: { name, schema } } }),
};

const MESSAGES: EndpointKind = {
  url: '/v1/messages',
  mode: 'sync',
  maxTokensField: 'max_tokens',
  aliases: {},
  forced: {},
  // Sail's messages endpoint refuses `system` and has no developer role.
  promptBody: (text, system) => (system === undefined ? { messages: [{ role: 'user', content: text }] } : null),
  promptCacheKeyField: null,
  usage: { input: ['input_tokens'], output: ['output_tokens'], cached: ['cache_read_input_tokens'], reasoning: [] },
  outputText: (r) =>
    Array.isArray(r['content'])
      ? (r['content'] as { type?: string; text?: unknown }[])
          .filter((c) => c?.type === 'text' && typeof c.text === 'string')
          .map((c) => c.text as string)
          .join('')
      : null,
  truncated: (r) => r['stop_reason'] === 'max_tokens',
  schemaOf: (body) => (isObject(body['output_config']) ? jsonSchemaFormat(body['output_config']['format']) : undefined),
  withSchema: (body, _name, schema) => ({
    ...body,
    output_config: { ...(isObject(body['output_config']) ? body['output_config'] : {}), format: { type: 'json_schema', schema } },
  }),
};

export const ENDPOINT_KINDS: Readonly<Record<Endpoint, EndpointKind>> = {
  '/v1/responses': RESPONSES,
  '/v1/chat/completions': CHAT,
  '/v1/messages': MESSAGES,
};

/**
 * Where any endpoint reports a token field, as paths under `usage`: what the stores sum over
 * results of every endpoint at once. No two endpoints report one figure under two of these.
 */
export function usagePathsOfAny(field: keyof UsagePaths): string[] {
  return [...new Set(Object.values(ENDPOINT_KINDS).flatMap((k) => k.usage[field]))];
}

export function isEndpoint(url: string): url is Endpoint {
  return (ENDPOINTS as readonly string[]).includes(url);
}

/** The table row of a stored job's url (written by the loader, so always one of ENDPOINTS). */
export function endpointOf(url: string): EndpointKind {
  if (!isEndpoint(url)) throw new Error(`unknown endpoint ${url}`);
  return ENDPOINT_KINDS[url];
}
