import { createHash, hash, randomBytes } from 'node:crypto';

/**
 * Design invariant 2: every POST carries a key derived from the input alone, so that a replay
 * after any fault (even with the checkpoint file lost) returns the stored response instead of
 * paying again. The key covers the batch namespace, the job's custom_id, its attempt and the
 * hash of the exact body sent; a user who wants fresh inference for the same file changes the
 * namespace. Sail caps keys at 255 characters; ours are 59 for the first attempts.
 */
export const KEY_PREFIX = 'sailbatch-v1-';

// Built by appending to one string rather than mapping and joining arrays: this runs for every
// line of the input, and the text must stay exactly what it was (keys of old checkpoints, and
// of the server's idempotency store, are derived from it).
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

/** Hash of a request body that does not depend on key order. */
export function bodySha256(body: unknown): string {
  return hash('sha256', canonical(body));
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
