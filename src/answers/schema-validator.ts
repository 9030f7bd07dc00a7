import { createRequire } from 'node:module';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';

/**
 * JSON Schema checks of answers, with ajv: a maintained validator that compiles each schema to
 * a function once, so checking a million answers against one schema costs a million calls, not
 * a million interpretations. Draft 2020-12 by default (what pydantic and OpenAI's structured
 * outputs write), draft-07 when a schema says so.
 */
let ajv: Ajv2020 | undefined;

/** Loaded on first use: most runs check no schema, and every command's start-up should not pay for ajv. */
function validator(): Ajv2020 {
  if (!ajv) {
    const require = createRequire(import.meta.url);
    const { Ajv2020 } = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
    // strict off: schemas written for OpenAI carry keywords of their own (`strict`, `name`), and
    // a schema a server accepts must not be refused here.
    ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-07.json') as Record<string, unknown>);
  }
  return ajv;
}

/** Compiled validators by schema text: one compile per distinct schema in a run. */
const compiled = new Map<string, ValidateFunction | string>();

/** ajv's instance path ("/items/0/label") in the `$.items[0].label` form users read. */
function jsonPath(instancePath: string): string {
  let out = '$';
  for (const raw of instancePath.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  }
  return out;
}

function describeError(e: ErrorObject): string {
  const allowed = e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')})` : '';
  return `${jsonPath(e.instancePath)}: ${e.message ?? e.keyword}${allowed}`;
}

function compile(schema: Record<string, unknown>): ValidateFunction | string {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (v === undefined) {
    try {
      v = validator().compile(schema);
    } catch (e) {
      v = (e as Error).message;
    }
    compiled.set(key, v);
  }
  return v;
}

/** Why `schema` is not a usable JSON Schema, or null when it is. */
export function schemaProblem(schema: Record<string, unknown>): string | null {
  const v = compile(schema);
  return typeof v === 'string' ? `not a valid JSON Schema (${v})` : null;
}

/** The first problems of `value` against `schema` (at most `max`), or an empty list when it is valid. */
export function schemaErrors(schema: Record<string, unknown>, value: unknown, max = 3): string[] {
  const v = compile(schema);
  if (typeof v === 'string') return [`the schema is not valid JSON Schema (${v})`];
  if (v(value)) return [];
  return (v.errors ?? []).slice(0, max).map(describeError);
}
