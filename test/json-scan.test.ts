import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_NESTING, scanJson } from '../src/input/json-scan.ts';

test('well-formed JSON with safe integers, floats and long digit strings has no problem', () => {
  assert.equal(scanJson('{"a":[1,-2,{"b":9007199254740991}],"f":1.5e300,"s":"12345678901234567890","n":null}'), null);
});

test('the same key in sibling objects is not a duplicate', () => {
  assert.equal(scanJson('{"x":{"k":1},"y":{"k":1},"z":[{"k":1},{"k":2}]}'), null);
});

test('a duplicate key is reported with its dotted path, inside arrays too', () => {
  assert.deepEqual(scanJson('{"body":{"input":[{"role":"user"},{"role":"user","role":"assistant"}]}}'), {
    path: 'body.input[1].role',
    message: 'duplicate key "role" in one object',
  });
});

test('keys equal only after unescaping are duplicates', () => {
  assert.equal(scanJson('{"ab":1,"a\\u0062":2}')?.path, 'ab');
});

test('escaped quotes and backslashes in strings do not derail the scan', () => {
  assert.equal(scanJson('{"s":"a\\"}{\\\\","t":"\\\\"}'), null);
  assert.equal(scanJson('{"s\\\\":1,"s\\\\":2}')?.path, 's\\');
});

test('integers past 2^53 are reported, positive and negative, at any depth', () => {
  assert.deepEqual(scanJson('{"seed":9007199254740993}'), {
    path: 'seed',
    message: 'integer 9007199254740993 is beyond 2^53 and would lose precision; write it as a string',
  });
  assert.equal(scanJson('{"a":{"b":[0,-90071992547409930]}}')?.path, 'a.b[1]');
  assert.equal(scanJson('[1, 123456789012345678901234567890]')?.path, '[1]');
});

test('objects with many keys: a duplicate far apart is found, and distinct keys pass', () => {
  const keys = Array.from({ length: 50 }, (_, k) => `"k${k}":${k}`);
  assert.equal(scanJson(`{${keys.join(',')}}`), null);
  assert.equal(scanJson(`{${keys.join(',')},"k3":0}`)?.path, 'k3');
  assert.equal(scanJson(`{"a":{${keys.join(',')},"k49":1}}`)?.path, 'a.k49');
});

test('nesting past MAX_NESTING is a problem, found without recursion; brackets inside strings do not count', () => {
  assert.equal(scanJson(`${'['.repeat(MAX_NESTING)}${']'.repeat(MAX_NESTING)}`), null);
  assert.equal(scanJson(`{"s":"${'['.repeat(500)}\\"["}`), null);
  const deep = scanJson(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
  assert.match(deep?.message ?? '', /nest deeper than 100 levels \(at character 101\)/);
});

test('given what JSON.parse made of the text, the scanner finds the same problems', () => {
  const keys = Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`);
  for (const text of [
    '{"a":[1,-2,{"b":9007199254740991}],"f":1.5e300,"s":"12345678901234567890","n":null}',
    '{"x":{"k":1},"y":{"k":1},"z":[{"k":1},{"k":2}]}',
    '{"body":{"input":[{"role":"user"},{"role":"user","role":"assistant"}]}}',
    '{"ab":1,"a\\u0062":2}',
    '{"s":"a:\\":b","t":{"u":1,"u":2}}',
    '{"seed":9007199254740993}',
    '{"f":0.12345678901234567}',
    '{"__proto__":{"a":1},"__proto__":2}',
    `{"a":{${keys.join(',')},"k39":1}}`,
  ]) {
    assert.deepEqual(scanJson(text, JSON.parse(text)), scanJson(text), text);
  }
});
