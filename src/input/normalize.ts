import type { z } from 'zod';
import type { InputIssue } from '../errors.ts';
import type { CompletionWindow } from '../api/completion-window.ts';
import { BODY_SCHEMAS, MAX_TOKENS_FIELD, bareLine, batchLine, type Endpoint } from './schemas.ts';

/** What run options fill in when a line leaves them out; what a line states wins. */
export interface LineDefaults {
  model?: string | undefined;
  completionWindow: CompletionWindow;
  maxOutputTokens?: number | undefined;
}

export interface NormalizedLine {
  customId: string;
  url: Endpoint;
  body: Record<string, unknown>;
  completionWindow: CompletionWindow;
}

type Problem = Omit<InputIssue, 'file' | 'line'>;

export type NormalizeResult = { ok: true; value: NormalizedLine } | { ok: false; problems: Problem[] };

export function defaultCustomId(lineNo: number): string {
  return `line-${lineNo}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return JSON.stringify(value).slice(0, 60);
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** One wording for every zod issue: "must be <= 2 (got 3)". */
export function zodProblems(error: z.ZodError, prefix: string): Problem[] {
  return error.issues.map((issue) => {
    const field = joinPath(prefix, issue.path);
    const got = 'input' in issue ? ` (got ${describe(issue.input)})` : '';
    switch (issue.code) {
      case 'too_big':
        return {
          field,
          message:
            issue.origin === 'string' || issue.origin === 'array'
              ? `must have at most ${issue.maximum} ${issue.origin === 'string' ? 'characters' : 'items'}`
              : `must be ${issue.inclusive === false ? '<' : '<='} ${issue.maximum}${got}`,
        };
      case 'too_small':
        return {
          field,
          message:
            issue.origin === 'string' || issue.origin === 'array'
              ? `must have at least ${issue.minimum} ${issue.origin === 'string' ? 'character' : 'item'}${Number(issue.minimum) === 1 ? '' : 's'}`
              : `must be ${issue.inclusive === false ? '>' : '>='} ${issue.minimum}${got}`,
        };
      case 'invalid_type':
        if (issue.input === undefined && !issue.message.startsWith('Invalid input')) {
          return { field, message: issue.message };
        }
        return issue.input === undefined
          ? { field, message: 'required' }
          : { field, message: issue.message.startsWith('Invalid input') ? `must be ${issue.expected}${got}` : `${issue.message}${got}` };
      case 'invalid_value':
        return {
          field,
          message: issue.message.startsWith('Invalid')
            ? `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}${got}`
            : `${issue.message}${got}`,
        };
      default:
        return { field, message: `${issue.message}${got}` };
    }
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function applyDefaults(url: Endpoint, body: Record<string, unknown>, defaults: LineDefaults): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  if (out['model'] === undefined && defaults.model !== undefined) out['model'] = defaults.model;
  const tokensField = MAX_TOKENS_FIELD[url];
  if (out[tokensField] === undefined && defaults.maxOutputTokens !== undefined) out[tokensField] = defaults.maxOutputTokens;
  const metadata = isPlainObject(out['metadata']) ? { ...out['metadata'] } : out['metadata'] === undefined ? {} : out['metadata'];
  if (isPlainObject(metadata) && metadata['completion_window'] === undefined) {
    metadata['completion_window'] = defaults.completionWindow;
  }
  out['metadata'] = metadata;
  if (url === '/v1/responses') out['background'] = true;
  return out;
}

/**
 * One parsed line (either shape of design.md) into the request sailbatch will send, with run
 * defaults applied and Sail's constraints checked. Pure: no I/O, no knowledge of other lines.
 */
export function normalizeLine(parsed: unknown, lineNo: number, defaults: LineDefaults): NormalizeResult {
  if (!isPlainObject(parsed)) {
    return { ok: false, problems: [{ field: '', message: `must be a JSON object (got ${describe(parsed)})` }] };
  }
  const isBatch = 'body' in parsed || 'url' in parsed || 'method' in parsed;
  let customId: string;
  let url: Endpoint;
  let rawBody: Record<string, unknown>;
  let prefix: string;
  if (isBatch) {
    const line = batchLine.safeParse(parsed, { reportInput: true });
    if (!line.success) return { ok: false, problems: zodProblems(line.error, '') };
    customId = line.data.custom_id;
    url = line.data.url;
    rawBody = line.data.body;
    prefix = 'body';
  } else {
    const line = bareLine.safeParse(parsed, { reportInput: true });
    if (!line.success) return { ok: false, problems: zodProblems(line.error, '') };
    customId = line.data.custom_id ?? defaultCustomId(lineNo);
    url = '/v1/responses';
    const { custom_id: _omit, ...rest } = parsed;
    rawBody = rest;
    prefix = '';
  }
  const body = applyDefaults(url, rawBody, defaults);
  const checked = BODY_SCHEMAS[url].safeParse(body, { reportInput: true });
  if (!checked.success) return { ok: false, problems: zodProblems(checked.error, prefix) };
  const completionWindow = (body['metadata'] as Record<string, string>)['completion_window'] as CompletionWindow;
  return { ok: true, value: { customId, url, body, completionWindow } };
}
