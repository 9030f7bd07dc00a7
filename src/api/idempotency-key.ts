import { createHash, randomBytes } from 'node:crypto';

/**
 * Design invariant 2: every POST carries a key derived from the input alone, so that a replay
 * after any fault (even with the checkpoint file lost) returns the stored response instead of
 * paying again. The key covers the batch namespace, the job's custom_id, its attempt and the
 * hash of the exact body sent; a user who wants fresh inference for the same file changes the
 * namespace. Sail caps keys at 255 characters; ours are 59 for the first attempts.
 */
export const KEY_PREFIX = 'sailbatch-v1-';

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Hash of a request body that does not depend on key order. */
export function bodySha256(body: unknown): string {
  return createHash('sha256').update(canonical(body)).digest('hex');
}

export interface KeyParts {
  namespace: string;
  customId: string;
  attempt: number;
  bodySha256: string;
}

export function idempotencyKey(parts: KeyParts): string {
  const digest = createHash('sha256')
    .update(`${parts.namespace}\u0000${parts.customId}\u0000${parts.attempt}\u0000${parts.bodySha256}`)
    .digest('base64url');
  return `${KEY_PREFIX}${digest}-a${parts.attempt}`;
}

/** Salted fingerprint of an API key: tells keys apart without storing anything that reveals one. */
export function keyFingerprint(apiKey: string, salt: string): string {
  return createHash('sha256').update(`${salt}\u0000${apiKey}`).digest('hex').slice(0, 32);
}

export function newSalt(): string {
  return randomBytes(16).toString('hex');
}
