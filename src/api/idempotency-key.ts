import { createHash, hash, randomBytes } from 'node:crypto';

/**
 * Design invariant 2: every POST carries a key derived from the input alone, so that a replay
 * after any fault (even with the checkpoint file lost) returns the stored response instead of
 * paying again. The key covers the batch namespace, the job's custom_id, its attempt and the
 * hash of the exact body sent; a user who wants fresh inference for the same file changes the
 * namespace. Sail caps keys at 255 characters; ours are 59 for the first attempts.
 */
export const KEY_PREFIX = 'sailbatch-v1-';

// The text must stay exactly what it was: keys of old checkpoints, and of the server's
// idempotency store, are derived from it. This is its definition; sortedCopy is the fast way to it.
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) as string;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + (canonical(value[i]) ?? '');
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    out += `${i ? ',' : ''}${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`;
  }
  return `${out}}`;
}

const NOT_PLAIN = new Error('not plain JSON data');

/**
 * A copy of `value` whose objects have their keys inserted in sorted order, so that one native
 * JSON.stringify of it writes the canonical text (at a third of the cost of building that text in
 * JS, for every line of the input). Throws NOT_PLAIN where the two would differ: a value
 * JSON.stringify leaves out or writes as null (undefined, a function, a symbol, a hole in an
 * array), a key that looks like an array index (objects list those first, whatever their insertion
 * order), and `__proto__` (assigning it would set the prototype).
 */
function sortedCopy(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') throw NOT_PLAIN;
    return value;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) out.push(sortedCopy(value[i]));
    return out;
  }
  const keys = Object.keys(value).sort();
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const c = k.charCodeAt(0);
    if ((c >= 0x30 && c <= 0x39) || k === '__proto__') throw NOT_PLAIN;
    out[k] = sortedCopy((value as Record<string, unknown>)[k]);
  }
  return out;
}

/** Hash of a request body that does not depend on key order. */
export function bodySha256(body: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(sortedCopy(body));
  } catch (e) {
    if (e !== NOT_PLAIN) throw e;
    text = canonical(body);
  }
  return hash('sha256', text);
}

/**
 * The hash of a body stored as JSON text: the same as of the object it was written from, since
 * request bodies are JSON data, which JSON text carries whole. Only values that are not JSON
 * (undefined, a hole in an array, toJSON) would hash otherwise, and no body holds one: each is
 * made of JSON.parse's values, strings and options. The pinned keys in store-contract.test.ts
 * hold this to the keys of earlier versions.
 */
export function storedBodySha256(text: string): string {
  return bodySha256(JSON.parse(text));
}

export interface KeyParts {
  namespace: string;
  customId: string;
  attempt: number;
  bodySha256: string;
}

export function idempotencyKey(parts: KeyParts): string {
  const digest = hash('sha256', `${parts.namespace}\u0000${parts.customId}\u0000${parts.attempt}\u0000${parts.bodySha256}`, 'base64url');
  return `${KEY_PREFIX}${digest}-a${parts.attempt}`;
}

/** Salted fingerprint of an API key: tells keys apart without storing anything that reveals one. */
export function keyFingerprint(apiKey: string, salt: string): string {
  return createHash('sha256').update(`${salt}\u0000${apiKey}`).digest('hex').slice(0, 32);
}

export function newSalt(): string {
  return randomBytes(16).toString('hex');
}
