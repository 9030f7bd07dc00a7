import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KEY_PREFIX, bodySha256, idempotencyKey, keyFingerprint, newSalt, storedBodySha256, type KeyParts } from '../src/api/idempotency-key.ts';

const body = { model: 'sail-small', input: 'Hello', max_output_tokens: 64, metadata: { a: 1, b: [1, 2] } };
const base: KeyParts = { namespace: 'ns-1', customId: 'req-7', attempt: 0, bodySha256: bodySha256(body) };

test('the key is deterministic: the same input gives the same key', () => {
  assert.equal(idempotencyKey(base), idempotencyKey({ ...base }));
  assert.equal(idempotencyKey(base), idempotencyKey({ ...base, bodySha256: bodySha256(structuredClone(body)) }));
  assert.ok(idempotencyKey(base).startsWith(KEY_PREFIX));
});

test('the key fits the 255-character limit, even for huge custom ids and namespaces', () => {
  const huge = idempotencyKey({ namespace: 'n'.repeat(10_000), customId: 'c'.repeat(10_000), attempt: 1_000_000, bodySha256: base.bodySha256 });
  assert.ok(huge.length <= 255, `${huge.length}`);
  assert.ok(idempotencyKey(base).length <= 255);
  assert.match(huge, /^[\x21-\x7e]+$/, 'header-safe characters only');
});

test('the key changes with namespace, custom_id, attempt and body', () => {
  const k = idempotencyKey(base);
  const variants = [
    { ...base, namespace: 'ns-2' },
    { ...base, customId: 'req-8' },
    { ...base, attempt: 1 },
    { ...base, bodySha256: bodySha256({ ...body, input: 'Hello!' }) },
  ];
  const keys = new Set([k, ...variants.map(idempotencyKey)]);
  assert.equal(keys.size, variants.length + 1);
});

test('fields cannot bleed into each other', () => {
  // Without a separator, ("ab", "c") and ("a", "bc") would hash the same.
  const a = idempotencyKey({ ...base, namespace: 'ab', customId: 'c' });
  const b = idempotencyKey({ ...base, namespace: 'a', customId: 'bc' });
  assert.notEqual(a, b);
});

test('bodySha256 ignores key order at every depth but not values or array order', () => {
  const reordered = { metadata: { b: [1, 2], a: 1 }, max_output_tokens: 64, input: 'Hello', model: 'sail-small' };
  assert.equal(bodySha256(reordered), bodySha256(body));
  assert.notEqual(bodySha256({ ...body, metadata: { a: 1, b: [2, 1] } }), bodySha256(body));
  assert.notEqual(bodySha256({ ...body, max_output_tokens: '64' }), bodySha256(body));
  assert.match(bodySha256(body), /^[0-9a-f]{64}$/);
});

test('keyFingerprint is salted and does not reveal the key', () => {
  const apiKey = 'sk-test-0123456789abcdef';
  const salt = newSalt();
  assert.equal(keyFingerprint(apiKey, salt), keyFingerprint(apiKey, salt));
  assert.notEqual(keyFingerprint(apiKey, salt), keyFingerprint(apiKey, newSalt()));
  assert.notEqual(keyFingerprint(apiKey, salt), keyFingerprint(`${apiKey}x`, salt));
  assert.ok(!keyFingerprint(apiKey, salt).includes('0123456789abcdef'));
  assert.notEqual(newSalt(), newSalt());
});

test('keys are exactly those of earlier versions: a lost checkpoint still finds the server-side replies', () => {
  const sample = {
    model: 'm',
    input: [{ role: 'user', content: 'hé "q"\n' }],
    metadata: { completion_window: 'asap', z: 'x' },
    temperature: 0.5,
    n: null,
    arr: [1, 'a', [true, {}]],
    background: true,
  };
  const sha = bodySha256(sample);
  assert.equal(sha, 'ae50fb3b6d1acd42e777f04221da9dd1a679a1a2417be610dcf5a49a6dde94db');
  assert.equal(idempotencyKey({ namespace: 'ns', customId: 'c-1', attempt: 2, bodySha256: sha }), 'sailbatch-v1-cvskksm0gEYBab38mE1SysiPQ4JrbpLkAu0xSApIO7o-a2');
});

test('bodySha256 of unusual values is what earlier versions made of them, as for plain ones', () => {
  // Each is hashed from a text JSON.stringify would write otherwise: index-like keys (listed first
  // by objects), a `__proto__` key, undefined values and array holes, escapes, -0 and 1e21.
  const undefinedValue = { a: undefined, b: 1 };
  // eslint-disable-next-line no-sparse-arrays
  const hole = [1, , 3];
  const cases: [unknown, string][] = [
    [{ b: 1, a: { d: [3, { z: 1, y: null }], c: 'é\u2028"\\' }, '': 0, A: -0, n: 1e21, f: 0.1 }, '70614a717610a87e579e345f1e04e2453cc134ca0fe4daf86ac8df419faccafa'],
    [{ '10': 'x', '2': 'y', a: 1 }, '4b1b2aac51495e9eb42398c562832cc2986df6153b670094abfa6b4cb9cfe9fc'],
    [JSON.parse('{"__proto__": {"a": 1}, "b": 2}'), '8d6c652f4aa72c9b091d3bbace50453a7acf63914c029720b36c6feb1db06324'],
    [undefinedValue, '044d797234f10415a0fb43a108e8ac41cbbcd0490bda10bf067d8b0d2e9baaf0'],
    [hole, 'cb0cfcbc65391b8b7eb9d01a23f28c3fdf9f864df849b6dbabf55c3b77cdf066'],
    [{ nested: [[[{ b: 2, a: 1 }]]] }, 'cd7b49713c855fe5304073f11768278e2948218e117446108fbad6c9f9f0d4a3'],
  ];
  for (const [value, sha] of cases) assert.equal(bodySha256(value), sha, JSON.stringify(value));
  // A job's hash is taken from its stored text: the same for every JSON value. Undefined values
  // and holes are no JSON (no body holds them: each comes from JSON.parse, strings and options).
  for (const [value, sha] of cases.filter(([v]) => v !== undefinedValue && v !== hole)) assert.equal(storedBodySha256(JSON.stringify(value)), sha, JSON.stringify(value));
  assert.equal(storedBodySha256('{"a":-0,"b":1e400,"c":"\\ud800"}'), bodySha256({ c: '\ud800', b: Infinity, a: -0 }));
});
