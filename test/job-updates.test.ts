import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiReply } from '../src/api/client.ts';
import { JOB_STATES } from '../src/checkpoint/job-states.ts';
import { finishedUpdate } from '../src/engine/job-updates.ts';

const row = { idx: 3, attempt: 0, url: '/v1/responses', body: '{"model":"m","input":"What is 7 squared?"}' };
const replyOf = (text: string): ApiReply => ({ status: 200, body: JSON.parse(text) as Record<string, unknown>, text, requestId: null });

test("the stored result is the server's own text, with output_text added at its end when the server sent none", () => {
  const text = '{"id":"resp_1","status":"completed","output":"forty-nine","usage":{"input_tokens":5,"output_tokens":1}, "note":"a \\"quoted\\" } brace"}';
  const u = finishedUpdate(row, JOB_STATES.completed, replyOf(text));
  assert.equal(u.result, `${text.slice(0, -1)},"output_text":"forty-nine"}`);
  assert.deepEqual(JSON.parse(u.result!), { ...JSON.parse(text), output_text: 'forty-nine' });
  assert.deepEqual(u.tokens, { input: 5, output: 1, cached: 0, reasoning: 0 });
});

test('a result that already has output_text is stored byte for byte', () => {
  const text = '{"id":"resp_2","status":"completed","output":[],"output_text":"as sent"}  ';
  assert.equal(finishedUpdate(row, JOB_STATES.completed, replyOf(text)).result, text);
});

test('a pretty-printed result is stored on one line, since each result is spliced into one output line', () => {
  const text = '{\n  "id": "resp_3",\n  "status": "completed",\r\n  "output": "line one\\nline two"\n}\n';
  const u = finishedUpdate(row, JOB_STATES.completed, replyOf(text));
  assert.ok(!u.result!.includes('\n') && !u.result!.includes('\r'), u.result!);
  assert.deepEqual(JSON.parse(u.result!), { ...JSON.parse(text), output_text: 'line one\nline two' });
});

test('an error result is stored as the server sent it', () => {
  const text = '{"id":"resp_4","status":"failed","error":{"code":"server_error","message":"boom"}}';
  const u = finishedUpdate(row, JOB_STATES.failed, replyOf(text));
  assert.equal(u.result, text);
  assert.equal(u.errorCode, 'server_error');
  assert.equal(u.errorMessage, 'boom');
});

test('a completed answer is checked against the schema its stored request asks for, and only then', () => {
  const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false };
  const asking = { ...row, body: JSON.stringify({ model: 'm', input: 'q', text: { format: { type: 'json_schema', name: 'a', schema } } }) };
  const reply = (answer: string) => replyOf(JSON.stringify({ id: 'resp_5', status: 'completed', output: answer }));
  const good = finishedUpdate(asking, JOB_STATES.completed, reply('{"n": 49}'));
  assert.equal(good.state, JOB_STATES.completed);
  assert.equal(good.parsed, '{"n":49}');
  const bad = finishedUpdate(asking, JOB_STATES.completed, reply('{"n": "49"}'));
  assert.equal(bad.state, JOB_STATES.invalid_output);
  assert.equal(bad.errorCode, 'schema_mismatch');
  // The same answer to a request that asks for no schema is text, and completed.
  const plain = finishedUpdate(row, JOB_STATES.completed, reply('{"n": "49"}'));
  assert.equal(plain.state, JOB_STATES.completed);
  assert.equal(plain.parsed, null);
});
