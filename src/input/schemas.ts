import { z } from 'zod';
import { COMPLETION_WINDOWS } from '../api/completion-window.ts';

/**
 * Request bodies as Sail documents them (reference/sail-api). Unknown fields pass through, since
 * Sail lists what it supports "including", but every field it documents as unsupported, and every
 * documented limit, is checked here so that a line fails before anything is spent instead of
 * failing at the server after the batch has started.
 */

const unsupported = (what: string) =>
  z
    .unknown()
    .refine(() => false, { message: `${what} not supported by Sail; remove it` })
    .optional();

const metadata = z
  .record(z.string(), z.string({ error: 'metadata values must be strings' }))
  .superRefine((m, ctx) => {
    const window = m['completion_window'];
    if (window !== undefined && !(COMPLETION_WINDOWS as readonly string[]).includes(window)) {
      ctx.addIssue({
        code: 'custom',
        path: ['completion_window'],
        message: `must be one of ${COMPLETION_WINDOWS.join(', ')} (got "${window}")`,
      });
    }
  });

const TEXT_PART_TYPES = ['input_text', 'output_text', 'text'];

const textPart = z.looseObject({ type: z.string(), text: z.string().optional() }).superRefine((part, ctx) => {
  if (!TEXT_PART_TYPES.includes(part.type)) {
    ctx.addIssue({
      code: 'custom',
      path: ['type'],
      message: `non-text content parts are not supported by Sail (got "${part.type}"); only text input is accepted`,
    });
  } else if (typeof part.text !== 'string') {
    ctx.addIssue({ code: 'custom', path: ['text'], message: 'must be a string' });
  }
});

const content = z.union([z.string(), z.array(textPart).min(1)], {
  error: 'must be a string or an array of text parts',
});

const responsesInputItem = z.looseObject({
  type: z.literal('message', { error: 'only message items are supported (no item references)' }).optional(),
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
  model: z.string({ error: 'required: set it in the line or pass --model' }).min(1),
  input: z.union([z.string().min(1), z.array(responsesInputItem).min(1)], {
    error: 'required: a non-empty string or a non-empty array of text messages',
  }),
  max_output_tokens: maxTokens,
  temperature,
  top_p: topP,
  text: z
    .looseObject({
      format: z.union([z.looseObject({ type: z.literal('text') }), jsonSchemaFormat], {
        error: 'format must be {"type":"text"} or {"type":"json_schema","name":...,"schema":{...}}',
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
  store: z.literal(true, { error: 'only true is supported by Sail' }).optional(),
  truncation: z.literal('disabled', { error: 'only "disabled" is supported by Sail' }).optional(),
  stream: z.literal(false, { error: 'streaming is not supported; sailbatch polls background responses' }).optional(),
  user: z.string().max(256).optional(),
  metadata: metadata.optional(),
  tools: unsupported('tools are'),
  parallel_tool_calls: unsupported('parallel_tool_calls is'),
  tool_choice: unsupported('tool_choice is'),
});

const chatMessage = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content,
});

export const chatBody = z.looseObject({
  model: z.string({ error: 'required: set it in the line or pass --model' }).min(1),
  messages: z.array(chatMessage).min(1),
  temperature,
  top_p: topP,
  max_completion_tokens: maxTokens,
  max_tokens: maxTokens,
  response_format: z
    .union([z.looseObject({ type: z.enum(['text', 'json_object']) }), z.looseObject({ type: z.literal('json_schema') })])
    .optional(),
  reasoning_effort: z.enum(['low', 'medium', 'high']).nullable().optional(),
  n: z.literal(1, { error: 'only n=1 is supported by Sail' }).optional(),
  modalities: z.tuple([z.literal('text')], { error: 'only ["text"] is supported by Sail' }).optional(),
  stream: z.literal(false, { error: 'streaming is not supported by Sail' }).optional(),
  store: z.literal(true, { error: 'only true is supported by Sail' }).optional(),
  user: z.string().max(256).optional(),
  metadata: metadata.optional(),
  tools: unsupported('tools are'),
  functions: unsupported('functions are'),
  function_call: unsupported('function_call is'),
  tool_choice: unsupported('tool_choice is'),
  parallel_tool_calls: unsupported('parallel_tool_calls is'),
});

export const messagesBody = z.looseObject({
  model: z.string({ error: 'required: set it in the line or pass --model' }).min(1),
  max_tokens: z.number({ error: 'required: set it in the line or pass --max-output-tokens' }).int().min(1),
  messages: z.array(z.looseObject({ role: z.enum(['user', 'assistant']), content })).min(1),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  output_config: z
    .looseObject({ format: z.looseObject({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }) })
    .optional(),
  metadata: metadata.optional(),
  stream: z.literal(false, { error: 'streaming is not supported by Sail' }).optional(),
  system: unsupported('system is'),
  tools: unsupported('tools are'),
  tool_choice: unsupported('tool_choice is'),
  top_k: unsupported('top_k is'),
  thinking: unsupported('thinking is'),
  service_tier: unsupported('service_tier is'),
});

export const ENDPOINTS = ['/v1/responses', '/v1/chat/completions', '/v1/messages'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

export const BODY_SCHEMAS: Readonly<Record<Endpoint, z.ZodType>> = {
  '/v1/responses': responsesBody,
  '/v1/chat/completions': chatBody,
  '/v1/messages': messagesBody,
};

/** Which body field carries the output-token cap, per endpoint (filled from --max-output-tokens). */
export const MAX_TOKENS_FIELD: Readonly<Record<Endpoint, string>> = {
  '/v1/responses': 'max_output_tokens',
  '/v1/chat/completions': 'max_completion_tokens',
  '/v1/messages': 'max_tokens',
};

export const batchLine = z.looseObject({
  custom_id: z.string({ error: 'required: a non-empty string' }).min(1).max(512),
  method: z.literal('POST', { error: 'must be "POST"' }),
  url: z.enum(ENDPOINTS, { error: `must be one of ${ENDPOINTS.join(', ')}` }),
  body: z.record(z.string(), z.unknown(), { error: 'required: an object with the request body' }),
});

export const bareLine = z.looseObject({
  custom_id: z.string().min(1).max(512).optional(),
});
