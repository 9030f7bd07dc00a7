import { z } from 'zod';
import type { InputIssue } from '../errors.ts';
import type { CompletionWindow } from '../api/completion-window.ts';
import { ENDPOINTS, ENDPOINT_KINDS, type Endpoint } from '../api/endpoints.ts';
import { BODY_SCHEMAS, required } from './schemas.ts';

/**
 * A request object under `body` or `params`, taken as it is: its fields are for its endpoint's
 * schema to check once the run defaults are in. z.record would first copy it key by key, only for
 * the copy to be copied again (0.7 µs a line).
 */
const requestObject = (fix: string) =>
  z.custom<Record<string, unknown>>((v) => isPlainObject(v), {
    error: (issue) => (issue.input === undefined ? `required; ${fix}` : 'must be a record'),
  });

const ANY_SURROGATE = /[\ud800-\udfff]/;
const UNPAIRED_SURROGATE = /\p{Cs}/u;

/**
 * A custom_id is stored as UTF-8 text and comes back in the output. An unpaired surrogate (a lone
 * `\ud800`-style escape) has no UTF-8 form: it would come back as U+FFFD, and two ids that
 * differ only there would collide. Checked outside the line's schema: a refinement there would
 * cost zod's compiled path about 0.7 µs a line; the first test here is a few nanoseconds.
 */
export const hasUnpairedSurrogate = (s: string): boolean => ANY_SURROGATE.test(s) && UNPAIRED_SURROGATE.test(s);

/** The OpenAI Batch line: the request is under `body`, sent to `url`. */
const batchLine = z.looseObject({
  custom_id: z.string({ error: required('give each line its own custom_id') }).min(1).max(512),
  method: z.literal('POST'),
  url: z.enum(ENDPOINTS),
  body: requestObject('give the request as an object'),
});

/** The optional custom_id of a bare Responses body, checked alone: the rest of the line is the body. */
const bareCustomId = z.string().min(1).max(512).optional();

/** An Anthropic Message Batches line: a Messages request under `params`. */
const anthropicBatchLine = z.looseObject({
  custom_id: z.string({ error: required('give each line its own custom_id') }).min(1).max(512),
  params: requestObject('give the Messages request as an object'),
});

/**
 * The request object without an own `__proto__` key, which z.record used to leave out of its copy:
 * the canonical hash, and so the idempotency keys of such lines, never included it.
 */
function withoutProto(o: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(o, '__proto__')) return o;
  const { ['__proto__']: _dropped, ...rest } = o;
  return rest;
}

/** What run options fill in when a line leaves them out; what a line states wins. */
export interface LineDefaults {
  model?: string | undefined;
  /** Replaces the model of every line (porting a batch file written for other models). */
  forceModel?: string | undefined;
  completionWindow: CompletionWindow;
  maxOutputTokens?: number | undefined;
}

export interface NormalizedLine {
  customId: string;
  url: Endpoint;
  body: Record<string, unknown>;
  completionWindow: CompletionWindow;
}

export type Problem = Omit<InputIssue, 'file' | 'line'>;

export type NormalizeResult = { ok: true; value: NormalizedLine } | { ok: false; problems: Problem[] };

export function defaultCustomId(lineNo: number): string {
  return `line-${lineNo}`;
}

const SHOWN = 40;

/** The offending value, short enough for one message line. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string' && value.length > SHOWN) return `${JSON.stringify(value.slice(0, SHOWN)).slice(0, -1)}…", ${value.length} characters`;
  const json = JSON.stringify(value);
  if (json.length <= SHOWN) return json;
  return Array.isArray(value) ? `an array of ${value.length} items` : typeof value === 'object' ? 'an object' : `${json.slice(0, SHOWN)}…`;
}

function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function article(expected: string): string {
  const noun = expected === 'int' ? 'integer' : expected;
  return `${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun}`;
}

/**
 * The house wording for zod's own issues ("must be <= 2"). zod consults a schema's own `error`
 * before this map, so schemas word only what needs a Sail-specific expectation or fix.
 */
const houseWording: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? 'required' : `must be ${article(issue.expected)}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}`
        : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
    case 'too_small': {
      const big = issue.code === 'too_big';
      const limit = big ? issue.maximum : issue.minimum;
      if (issue.origin === 'string' || issue.origin === 'array') {
        const unit = issue.origin === 'string' ? 'character' : 'item';
        return `must have ${big ? 'at most' : 'at least'} ${limit} ${unit}${Number(limit) === 1 ? '' : 's'}`;
      }
      return `must be ${big ? '<' : '>'}${issue.inclusive === false ? '' : '='} ${limit}`;
    }
    default:
      return undefined;
  }
};

/**
 * Parses with the house wording and the offending value kept on each issue. A value that passes
 * is parsed once without them: zod's compiled fast path runs only without per-call options (half
 * the cost on every valid line), and what passes does not depend on how failures are worded.
 */
export function safeParseWorded<T>(schema: z.ZodType<T>, value: unknown): z.ZodSafeParseResult<T> {
  const plain = schema.safeParse(value);
  return plain.success ? plain : schema.safeParse(value, { error: houseWording, reportInput: true });
}

/**
 * zod words a failed union only as a whole. Where the value has the type of just one branch,
 * that branch's own issues say more ("input[0].role: must be one of ...") than the union can.
 */
function unwrapUnions(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const sameType = issue.errors.filter((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0));
  if (sameType.length !== 1) return [issue];
  return sameType[0]!.flatMap((i) => unwrapUnions({ ...i, path: [...issue.path, ...i.path] }));
}

/**
 * One problem per zod issue, with the value the line had: "must be <= 2 (got 3)". The value goes
 * before a "; fix" tail so the fix reads last: "not supported by Sail (got true); remove it".
 */
export function zodProblems(error: z.ZodError, prefix: string): Problem[] {
  return error.issues.flatMap(unwrapUnions).map((issue) => {
    const field = joinPath(prefix, issue.path);
    if (issue.input === undefined) return { field, message: issue.message };
    const cut = issue.message.indexOf('; ');
    const at = cut === -1 ? issue.message.length : cut;
    return { field, message: `${issue.message.slice(0, at)} (got ${describe(issue.input)})${issue.message.slice(at)}` };
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A shallow copy whose keys enumerate fast. V8 gives a spread-and-extended object a map whose keys
 * enumerate slowly, and zod and JSON.stringify (and, for PostgreSQL, the body's hash) each
 * enumerate a body. Object.assign would run the `__proto__` setter, so an object with that own
 * key is spread.
 */
function copyOf(o: Record<string, unknown>): Record<string, unknown> {
  return Object.hasOwn(o, '__proto__') ? { ...o } : Object.assign({}, o);
}

function applyDefaults(url: Endpoint, body: Record<string, unknown>, defaults: LineDefaults): Record<string, unknown> {
  const kind = ENDPOINT_KINDS[url];
  const out = copyOf(body);
  for (const [alias, field] of Object.entries(kind.aliases)) {
    if (out[alias] === undefined) continue;
    out[field] ??= out[alias];
    delete out[alias];
  }
  if (defaults.forceModel !== undefined) out['model'] = defaults.forceModel;
  else if (out['model'] === undefined && defaults.model !== undefined) out['model'] = defaults.model;
  if (out[kind.maxTokensField] === undefined && defaults.maxOutputTokens !== undefined) out[kind.maxTokensField] = defaults.maxOutputTokens;
  const metadata = isPlainObject(out['metadata']) ? copyOf(out['metadata']) : out['metadata'] === undefined ? {} : out['metadata'];
  if (isPlainObject(metadata) && metadata['completion_window'] === undefined) {
    metadata['completion_window'] = defaults.completionWindow;
  }
  out['metadata'] = metadata;
  // Assigned, not spread into a second copy: forced fields keep their place or come last, as with a spread.
  return Object.assign(out, kind.forced);
}

/**
 * One parsed line (an OpenAI Batch line, a bare Responses body, or an Anthropic Message Batches
 * line) into the request sailbatch will send, with run
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
    const line = safeParseWorded(batchLine, parsed);
    if (!line.success) return { ok: false, problems: zodProblems(line.error, '') };
    customId = line.data.custom_id;
    url = line.data.url;
    rawBody = withoutProto(line.data.body);
    prefix = 'body';
  } else if ('params' in parsed) {
    const line = safeParseWorded(anthropicBatchLine, parsed);
    if (!line.success) return { ok: false, problems: zodProblems(line.error, '') };
    customId = line.data.custom_id;
    url = '/v1/messages';
    rawBody = withoutProto(line.data.params);
    prefix = 'params';
  } else {
    const id = safeParseWorded(bareCustomId, parsed['custom_id']);
    if (!id.success) return { ok: false, problems: zodProblems(id.error, 'custom_id') };
    customId = id.data ?? defaultCustomId(lineNo);
    url = '/v1/responses';
    const { custom_id: _omit, ...rest } = parsed;
    rawBody = rest;
    prefix = '';
  }
  if (hasUnpairedSurrogate(customId)) {
    const fix = 'replace its unpaired surrogate escape (one of \\ud800 to \\udfff without its pair)';
    return { ok: false, problems: [{ field: 'custom_id', message: `must be valid Unicode text (got ${describe(customId)}); ${fix}` }] };
  }
  return normalizeRequest(customId, url, rawBody, prefix, defaults);
}

/**
 * A request body from any source into the request sailbatch will send: run defaults applied,
 * then checked against its endpoint's schema. `prefix` is where the body sits in the source's
 * own shape, for the field names of the problems.
 */
export function normalizeRequest(
  customId: string,
  url: Endpoint,
  rawBody: Record<string, unknown>,
  prefix: string,
  defaults: LineDefaults,
): NormalizeResult {
  const body = applyDefaults(url, rawBody, defaults);
  const checked = safeParseWorded(BODY_SCHEMAS[url], body);
  if (!checked.success) return { ok: false, problems: zodProblems(checked.error, prefix) };
  const completionWindow = (body['metadata'] as Record<string, string>)['completion_window'] as CompletionWindow;
  return { ok: true, value: { customId, url, body, completionWindow } };
}
