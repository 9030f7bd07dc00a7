import type { z } from 'zod';
import { UsageError } from './errors.ts';
import { OPTION_ENV } from './option-env.ts';
import { runOptionsSchema, type RunOptions, type RunOptionsInput } from './options.ts';

type Issue = z.core.$ZodIssue;
interface Bounds {
  isInt?: boolean;
  minValue?: number | null;
  maxValue?: number | null;
}

/** The number or string schema under `.optional()`/`.default()`, where the bounds live. */
function innerOf(key: string): (Bounds & { type?: string }) | undefined {
  let s = (runOptionsSchema.shape as Record<string, unknown>)[key] as { def?: { type?: string; innerType?: unknown } } | undefined;
  while (s?.def?.innerType) s = s.def.innerType as typeof s;
  return s ? Object.assign(s as Bounds, { type: s.def?.type }) : undefined;
}

function range(b: Bounds): string {
  // An integer schema's own limits are the safe-integer range: no bound a user set.
  const lo = b.minValue !== null && b.minValue !== undefined && b.minValue > Number.MIN_SAFE_INTEGER ? b.minValue : undefined;
  const hi = b.maxValue !== null && b.maxValue !== undefined && b.maxValue < Number.MAX_SAFE_INTEGER ? b.maxValue : undefined;
  if (lo !== undefined && hi !== undefined) return ` from ${lo} to ${hi}`;
  if (lo !== undefined) return ` >= ${lo}`;
  return hi !== undefined ? ` <= ${hi}` : '';
}

/**
 * One option complaint in the house wording: the option as the caller names it, what it must
 * be, and the value given (`--concurrency must be an integer >= 1 (got 0)`), instead of zod's.
 */
export function describeOptionIssue(issue: Issue, input: Record<string, unknown>, nameOf: (key: string) => string): string {
  const key = String(issue.path[0] ?? '');
  const name = nameOf(key);
  const env = Object.hasOwn(OPTION_ENV, key) ? OPTION_ENV[key as keyof typeof OPTION_ENV] : undefined;
  const fromEnv = input[key] === undefined && env !== undefined && process.env[env] !== undefined;
  const value = fromEnv ? process.env[env!]!.trim() || undefined : input[key];
  if (value === undefined && issue.code === 'invalid_type') return env ? `${name} is required: pass it or set ${env}` : `${name} is required`;
  // The API key is a secret: never echoed, not even in an error.
  const got = key === 'apiKey' ? '' : ` (got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}${fromEnv ? ` from ${env}` : ''})`;
  const inner = innerOf(key);
  if (inner?.type === 'number' && (issue.code === 'too_small' || issue.code === 'too_big' || issue.code === 'invalid_type')) {
    const kind = inner.isInt ? 'an integer' : 'a number';
    const bound =
      issue.code === 'too_small'
        ? ` ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`
        : issue.code === 'too_big'
          ? ` ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`
          : range(inner);
    return `${name} must be ${kind}${bound}${got}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'string') return `${name} must not be empty`;
  if (issue.code === 'too_big' && issue.origin === 'string') return `${name} must be at most ${String(issue.maximum)} characters${got}`;
  if (issue.code === 'invalid_value') return `${name} must be one of ${issue.values.map(String).join(', ')}${got}`;
  if (issue.code === 'invalid_type') return `${name} must be a ${issue.expected}${got}`;
  return `${name} ${issue.message}${got}`;
}

/**
 * Parses options through a schema (the run options', or one built from it). `nameOf` turns an
 * option key into the name the caller knows it by (the CLI passes its flag names); the library's
 * callers see the keys.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, nameOf: (key: string) => string = (k) => k): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new UsageError(describeOptionIssue(parsed.error.issues[0]!, input as Record<string, unknown>, nameOf));
}

export function parseRunOptions(input: RunOptionsInput, nameOf?: (key: string) => string): RunOptions {
  return parseOptions(runOptionsSchema, input, nameOf);
}
