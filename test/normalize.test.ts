import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeLine, type LineDefaults, type NormalizeResult } from '../src/input/normalize.ts';

const DEFAULTS: LineDefaults = { model: 'run/model', completionWindow: '24h', maxOutputTokens: 100 };

function problems(result: NormalizeResult): string[] {
  assert.equal(result.ok, false);
  return result.ok ? [] : result.problems.map((p) => `${p.field}: ${p.message}`);
}

test('a bare line gets its custom_id from the line number and the run defaults, and runs in background', () => {
  const result = normalizeLine({ input: 'hi' }, 7, DEFAULTS);
  assert.deepEqual(result, {
    ok: true,
    value: {
      customId: 'line-7',
      url: '/v1/responses',
      completionWindow: '24h',
      body: { input: 'hi', model: 'run/model', max_output_tokens: 100, metadata: { completion_window: '24h' }, background: true },
    },
  });
});

test('what a line states wins over the run defaults', () => {
  const result = normalizeLine(
    { custom_id: 'mine', input: 'hi', model: 'line/model', max_output_tokens: 5, metadata: { completion_window: 'asap', team: 'x' } },
    1,
    DEFAULTS,
  );
  assert.ok(result.ok);
  assert.equal(result.value.customId, 'mine');
  assert.equal(result.value.completionWindow, 'asap');
  assert.deepEqual(result.value.body, {
    input: 'hi',
    model: 'line/model',
    max_output_tokens: 5,
    metadata: { completion_window: 'asap', team: 'x' },
    background: true,
  });
});

test('the output-token default fills the field each endpoint uses, and only responses run in background', () => {
  const chat = normalizeLine({ custom_id: 'c', method: 'POST', url: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'hi' }] } }, 1, DEFAULTS);
  const messages = normalizeLine({ custom_id: 'm', method: 'POST', url: '/v1/messages', body: { messages: [{ role: 'user', content: 'hi' }] } }, 2, DEFAULTS);
  assert.ok(chat.ok && messages.ok);
  assert.equal(chat.value.body['max_completion_tokens'], 100);
  assert.equal(messages.value.body['max_tokens'], 100);
  assert.equal(chat.value.body['background'], undefined);
  assert.equal(messages.value.body['background'], undefined);
});

test('every problem of a line is returned, with the batch body prefix', () => {
  const line = { custom_id: 'b', method: 'POST', url: '/v1/responses', body: { model: 'm', input: 'x', temperature: -1, top_p: 2, stream: true } };
  assert.deepEqual(problems(normalizeLine(line, 1, DEFAULTS)), [
    'body.temperature: must be >= 0 (got -1)',
    'body.top_p: must be <= 1 (got 2)',
    'body.stream: streaming is not supported by Sail (got true); remove it',
  ]);
});

test('wrong types name the expected type and the value', () => {
  assert.deepEqual(problems(normalizeLine({ input: 'x', temperature: 'hot', max_output_tokens: 1.5, metadata: 'x' }, 1, DEFAULTS)), [
    'max_output_tokens: must be an integer (got 1.5)',
    'temperature: must be a number (got "hot")',
    'metadata: must be an object (got "x")',
  ]);
});

test('a failed union names the field inside the one branch the value fits', () => {
  assert.deepEqual(problems(normalizeLine({ input: [{ role: 'robot', content: 'x' }] }, 1, DEFAULTS)), [
    'input[0].role: must be one of "user", "assistant", "system", "developer" (got "robot")',
  ]);
  assert.deepEqual(problems(normalizeLine({ input: 5 }, 1, DEFAULTS)), [
    'input: must be a non-empty string or a non-empty array of text messages (got 5)',
  ]);
  assert.deepEqual(problems(normalizeLine({ input: 'x', text: { format: { type: 'xml' } } }, 1, DEFAULTS)), [
    'text.format: must be {"type":"text"} or {"type":"json_schema","name":...,"schema":{...}} (got {"type":"xml"})',
  ]);
});

test('long values are cut short in the message', () => {
  const [message] = problems(normalizeLine({ input: 'x', user: 'u'.repeat(300) }, 1, DEFAULTS));
  assert.equal(message, `user: must have at most 256 characters (got "${'u'.repeat(40)}…", 300 characters)`);
});

test('fields Sail documents as unsupported on chat and messages are rejected', () => {
  const chat = { custom_id: 'c', method: 'POST', url: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'hi' }], n: 2, functions: [] } };
  assert.deepEqual(problems(normalizeLine(chat, 1, DEFAULTS)), [
    'body.n: only 1 is supported by Sail (got 2); remove it',
    'body.functions: not supported by Sail (got []); remove it',
  ]);
  const messages = { custom_id: 'm', method: 'POST', url: '/v1/messages', body: { messages: [{ role: 'user', content: 'hi' }], system: 'be brief', top_k: 5 } };
  assert.deepEqual(problems(normalizeLine(messages, 1, DEFAULTS)), [
    'body.system: not supported by Sail (got "be brief"); remove it',
    'body.top_k: not supported by Sail (got 5); remove it',
  ]);
});

test('the envelope of a line is checked as before: the request object is not copied, and a batch body still leaves out __proto__', () => {
  const batch = (body: unknown) => ({ custom_id: 'b', method: 'POST', url: '/v1/responses', body });
  assert.deepEqual(problems(normalizeLine(batch(5), 1, DEFAULTS)), ['body: must be a record (got 5)']);
  assert.deepEqual(problems(normalizeLine(batch([1]), 1, DEFAULTS)), ['body: must be a record (got [1])']);
  assert.deepEqual(problems(normalizeLine({ custom_id: 'p', params: null }, 1, DEFAULTS)), ['params: must be a record (got null)']);
  assert.deepEqual(problems(normalizeLine({ custom_id: 3, input: 'x' }, 1, DEFAULTS)), ['custom_id: must be a string (got 3)']);
  // z.record, which read the body before, left an own __proto__ key out: the hashes and keys of such lines depend on it.
  const proto = normalizeLine(JSON.parse('{"custom_id":"b","method":"POST","url":"/v1/responses","body":{"input":"x","__proto__":{"a":1}}}'), 1, DEFAULTS);
  assert.ok(proto.ok);
  assert.deepEqual(Object.keys(proto.value.body), ['input', 'model', 'max_output_tokens', 'metadata', 'background']);
});
