import { createHash } from 'node:crypto';

/**
 * The simulator's structured answers: a value valid against the request's JSON Schema, picked
 * by a hash of the model and the request text, so the same request gets the same answer and a
 * test can check it with any validator. Covers what structured outputs use: types (and type
 * lists), enum, const, required and properties, nested objects and arrays, local $ref,
 * anyOf/oneOf/allOf, numeric min/max and string/array lengths.
 */
type Schema = Record<string, unknown>;

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

class Picker {
  private n = 0;
  constructor(private readonly seed: string) {}
  /** A number in [0, 1) for the next choice. */
  next(): number {
    return createHash('sha256').update(`${this.seed}\u0000${this.n++}`).digest().readUInt32BE(0) / 4294967296;
  }
}

function resolveRef(root: Schema, ref: string): Schema {
  let at: unknown = root;
  for (const part of ref.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    at = isObject(at) ? at[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  }
  return isObject(at) ? at : {};
}

function integerIn(s: Schema, p: Picker): number {
  let lo = typeof s['minimum'] === 'number' ? Math.ceil(s['minimum']) : typeof s['exclusiveMinimum'] === 'number' ? Math.floor(s['exclusiveMinimum']) + 1 : 0;
  let hi = typeof s['maximum'] === 'number' ? Math.floor(s['maximum']) : typeof s['exclusiveMaximum'] === 'number' ? Math.ceil(s['exclusiveMaximum']) - 1 : lo + 100;
  if (hi < lo) [lo, hi] = [hi, lo];
  return lo + Math.floor(p.next() * (hi - lo + 1));
}

function numberIn(s: Schema, p: Picker): number {
  const lo = typeof s['minimum'] === 'number' ? s['minimum'] : typeof s['exclusiveMinimum'] === 'number' ? s['exclusiveMinimum'] : 0;
  const hi = typeof s['maximum'] === 'number' ? s['maximum'] : typeof s['exclusiveMaximum'] === 'number' ? s['exclusiveMaximum'] : lo + 1;
  const v = Math.round((lo + (hi - lo) * (0.05 + 0.9 * p.next())) * 1000) / 1000;
  return Math.min(Math.max(v, lo), hi);
}

function stringFor(s: Schema, p: Picker, text: string): string {
  const min = typeof s['minLength'] === 'number' ? s['minLength'] : 0;
  const max = typeof s['maxLength'] === 'number' ? s['maxLength'] : 40;
  // Words of the request, so answers look like they are about it.
  const words = text.match(/[\p{L}\p{N}]{3,}/gu) ?? ['answer'];
  let out = Array.from({ length: 1 + Math.floor(p.next() * 2) }, () => words[Math.floor(p.next() * words.length)]!.toLowerCase()).join(' ');
  while (out.length < min) out += 'x';
  return out.slice(0, Math.max(max, min));
}

function valueFor(s: Schema, root: Schema, p: Picker, text: string, depth: number): unknown {
  if (typeof s['$ref'] === 'string') return valueFor(resolveRef(root, s['$ref']), root, p, text, depth + 1);
  if ('const' in s) return s['const'];
  if (Array.isArray(s['enum']) && s['enum'].length > 0) return s['enum'][Math.floor(p.next() * s['enum'].length)];
  for (const k of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(s[k]) && isObject(s[k][0])) return valueFor(s[k][0], root, p, text, depth + 1);
  }
  if (Array.isArray(s['allOf'])) return valueFor(Object.assign({}, ...s['allOf'].filter(isObject), { allOf: undefined }) as Schema, root, p, text, depth + 1);
  const types = Array.isArray(s['type']) ? s['type'] : [s['type'] ?? (isObject(s['properties']) ? 'object' : 'string')];
  const type = types.find((t) => t !== 'null') ?? 'null';
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const props = isObject(s['properties']) ? s['properties'] : {};
      for (const [k, sub] of Object.entries(props)) if (isObject(sub) && depth < 8) out[k] = valueFor(sub, root, p, text, depth + 1);
      return out;
    }
    case 'array': {
      const min = typeof s['minItems'] === 'number' ? s['minItems'] : 1;
      const max = typeof s['maxItems'] === 'number' ? s['maxItems'] : Math.max(min, 3);
      const n = depth >= 8 ? min : min + Math.floor(p.next() * (max - min + 1));
      const items = isObject(s['items']) ? s['items'] : {};
      return Array.from({ length: n }, () => valueFor(items, root, p, text, depth + 1));
    }
    case 'integer':
      return integerIn(s, p);
    case 'number':
      return numberIn(s, p);
    case 'boolean':
      return p.next() < 0.5;
    case 'null':
      return null;
    default:
      return stringFor(s, p, text);
  }
}

/** A value valid against `schema`, the same for the same seed. */
export function schemaAnswer(schema: Schema, seed: string, text: string): unknown {
  return valueFor(schema, schema, new Picker(seed), text, 0);
}

/**
 * What a model gets wrong, for the invalid-answer fault: half of the time text that is not JSON,
 * otherwise the valid answer with its first property given a value its schema refuses (so the
 * error names a path, as real mistakes do).
 */
export function brokenAnswer(schema: Schema, seed: string, text: string): string {
  const p = new Picker(`broken\u0000${seed}`);
  if (p.next() < 0.5) return `Sure! Here is the answer: ${text.slice(0, 40)}`;
  const value = schemaAnswer(schema, seed, text);
  const props = isObject(schema['properties']) ? Object.entries(schema['properties']) : [];
  if (!isObject(value) || props.length === 0) return JSON.stringify({ unexpected: value });
  const [name, sub] = props[0]!;
  const s = isObject(sub) ? sub : {};
  const type = Array.isArray(s['type']) ? s['type'][0] : s['type'];
  value[name] = Array.isArray(s['enum']) ? '__not_one_of_them__' : type === 'string' ? 12345 : type === 'integer' || type === 'number' ? 'many' : 'wrong';
  return JSON.stringify(value);
}
