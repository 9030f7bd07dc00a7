import { z } from 'zod';
import { COMPLETION_WINDOWS } from '../api/completion-window.ts';
import type { Endpoint } from '../api/endpoints.ts';

/**
 * Request bodies as Sail documents them (reference/sail-api). Unknown fields pass through, since
 * Sail lists what it supports "including", but every field it documents as unsupported, and every
 * documented limit, is checked here so that a line fails before anything is spent instead of
 * failing at the server after the batch has started.
 */

/** For a field that may not be missing: the fix, when it is. Other complaints keep the house wording. */
export const required =
  (fix: string) =>
  (issue: { input?: unknown }): string | undefined =>
    issue.input === undefined ? `required; ${fix}` : undefined;

/** For a union, whose failure zod words only as "Invalid input": what it accepts. */
const either = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? `required: ${what}` : `must be ${what}`;

const unsupported = z.never({ error: 'not supported by Sail; remove it' }).optional();

const metadata = z
  .object({ completion_window: z.enum(COMPLETION_WINDOWS).optional() })
  .catchall(z.string());

const TEXT_PART_TYPES = ['input_text', 'output_text', 'text'];

// One check for the whole part, not an enum on `type`: a non-text part would also miss `text`,
// and that second complaint would only bury the real one.
const textPart = z.looseObject({ type: z.string(), text: z.string().optional() }).superRefine((part, ctx) => {
  if (!TEXT_PART_TYPES.includes(part.type)) {
    ctx.addIssue({
      code: 'custom',
      path: ['type'],
      input: part.type,
      message: `must be one of ${TEXT_PART_TYPES.map((t) => `"${t}"`).join(', ')}; Sail accepts text input only (no image, audio or file parts)`,
    });
  } else if (typeof part.text !== 'string') {
    ctx.addIssue({ code: 'custom', path: ['text'], input: part.text, message: part.text === undefined ? 'required' : 'must be a string' });
  }
});

const content = z.union([z.string(), z.array(textPart).min(1)], {
  error: either('a string or a non-empty array of text parts'),
});

const responsesInputItem = z.looseObject({
  type: z.literal('message', { error: 'must be "message"; item references are not supported by Sail' }).optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content,
});

const temperature = z.number().min(0).max(2).nullable().optional();
const topP = z.number().min(0).max(1).nullable().optional();
const maxTokens = z.number().int().min(1).nullable().optional();
const jsonSchemaFormat = z.looseObject({
  type: z.literal('json_schema'),
  name: z.string().min(1),
  schema: z.record(z.string(), z.unknown()),
});

export const responsesBody = z.looseObject({
  model: z.string({ error: required('set it in the line or pass --model') }).min(1),
  input: z.union([z.string().min(1), z.array(responsesInputItem).min(1)], {
    error: either('a non-empty string or a non-empty array of text messages'),
  }),
  max_output_tokens: maxTokens,
  temperature,
  top_p: topP,
  text: z
    .looseObject({
      format: z.union([z.looseObject({ type: z.literal('text') }), jsonSchemaFormat], {
        error: either('{"type":"text"} or {"type":"json_schema","name":...,"schema":{...}}'),
      }).optional(),
    })
    .optional(),
  reasoning: z
    .looseObject({
      effort: z.enum(['low', 'medium', 'high']).nullable().optional(),
      generate_summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
      summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
    })
    .nullable()
    .optional(),
  background: z.boolean().optional(),
  prompt_cache_key: z.string().optional(),
  store: z.literal(true, { error: 'only true is supported by Sail; remove it' }).optional(),
  truncation: z.literal('disabled', { error: 'only "disabled" is supported by Sail; remove it' }).optional(),
  stream: z.literal(false, { error: 'streaming is not supported by Sail; remove it' }).optional(),
  user: z.string().max(256).optional(),
  metadata: metadata.optional(),
  tools: unsupported,
  parallel_tool_calls: unsupported,
  tool_choice: unsupported,
});

const chatMessage = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content,
});

export const chatBody = z.looseObject({
  model: z.string({ error: required('set it in the line or pass --model') }).min(1),
  messages: z.array(chatMessage).min(1),
  temperature,
  top_p: topP,
  max_completion_tokens: maxTokens,
  max_tokens: maxTokens,
  response_format: z
    .union([z.looseObject({ type: z.enum(['text', 'json_object']) }), z.looseObject({ type: z.literal('json_schema') })])
    .optional(),
  reasoning_effort: z.enum(['low', 'medium', 'high']).nullable().optional(),
  n: z.literal(1, { error: 'only 1 is supported by Sail; remove it' }).optional(),
  modalities: z.tuple([z.literal('text')], { error: 'only ["text"] is supported by Sail; remove it' }).optional(),
  stream: z.literal(false, { error: 'streaming is not supported by Sail; remove it' }).optional(),
  store: z.literal(true, { error: 'only true is supported by Sail; remove it' }).optional(),
  user: z.string().max(256).optional(),
  metadata: metadata.optional(),
  tools: unsupported,
  functions: unsupported,
  function_call: unsupported,
  tool_choice: unsupported,
  parallel_tool_calls: unsupported,
});

export const messagesBody = z.looseObject({
  model: z.string({ error: required('set it in the line or pass --model') }).min(1),
  max_tokens: z.number({ error: required('set it in the line or pass --max-output-tokens') }).int().min(1),
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content })).min(1),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  output_config: z
    .looseObject({ format: z.looseObject({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }) })
    .optional(),
  metadata: metadata.optional(),
  stream: z.literal(false, { error: 'streaming is not supported by Sail; remove it' }).optional(),
  system: unsupported,
  tools: unsupported,
  tool_choice: unsupported,
  top_k: unsupported,
  thinking: unsupported,
  service_tier: unsupported,
});

/**
 * What a request body of each endpoint must look like (checked before anything is sent). Apart
 * from the endpoint table so that the store and `status`, which read that table, do not load zod.
 */
export const BODY_SCHEMAS: Readonly<Record<Endpoint, z.ZodType>> = {
  '/v1/responses': responsesBody,
  '/v1/chat/completions': chatBody,
  '/v1/messages': messagesBody,
};
