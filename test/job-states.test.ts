import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  JOB_STATES,
  RETRYABLE_STATES,
  TERMINAL_STATES,
  TRANSITIONS,
  canTransition,
  isTerminal,
  sourcesOf,
  stateForApiStatus,
  type JobState,
} from '../src/checkpoint/job-states.ts';

const ALL = Object.values(JOB_STATES) as JobState[];
const S = JOB_STATES;

// The diagram from design.md, written out independently of the table under test.
const EXPECTED: Record<JobState, JobState[]> = {
  pending: ['submitted', 'completed', 'failed', 'incomplete', 'cancelled', 'invalid_output', 'not_sent_budget'],
  submitted: ['completed', 'failed', 'incomplete', 'cancelled', 'expired', 'invalid_output'],
  completed: [],
  failed: ['pending'],
  incomplete: ['pending'],
  cancelled: ['pending'],
  expired: ['pending'],
  invalid: [],
  invalid_output: ['pending'],
  not_sent_budget: ['pending'],
};

describe('transitions', () => {
  test('every state has an entry, and every target is a known state', () => {
    assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...ALL].sort());
    for (const targets of Object.values(TRANSITIONS)) for (const to of targets) assert.ok(ALL.includes(to), to);
  });

  test('exactly the edges of the design diagram are allowed', () => {
    for (const from of ALL) {
      for (const to of ALL) {
        assert.equal(canTransition(from, to), EXPECTED[from].includes(to), `${from} -> ${to}`);
      }
    }
  });

  test('forbidden moves the engine must never make', () => {
    assert.equal(canTransition(S.submitted, S.pending), false, 'a submitted job is never resent');
    assert.equal(canTransition(S.submitted, S.submitted), false);
    assert.equal(canTransition(S.pending, S.expired), false, 'only a job out at the server can expire');
    assert.equal(canTransition(S.pending, S.invalid), false, 'invalid is decided at load, never later');
    assert.equal(canTransition(S.completed, S.pending), false, 'a completed job is never retried');
    assert.equal(canTransition(S.failed, S.submitted), false, 'a retry goes through pending (new key)');
  });

  test('terminal states leave only by the retry edge to pending', () => {
    for (const s of TERMINAL_STATES) {
      assert.ok(isTerminal(s));
      for (const to of TRANSITIONS[s]) assert.equal(to, S.pending, `${s} -> ${to}`);
    }
    assert.equal(isTerminal(S.pending), false);
    assert.equal(isTerminal(S.submitted), false);
    assert.equal(isTerminal(S.not_sent_budget), false, 'a line the spending cap held back goes on at the next run');
  });

  test('completed and invalid are dead ends; the other terminal states are retryable', () => {
    assert.deepEqual(TRANSITIONS[S.completed], []);
    assert.deepEqual(TRANSITIONS[S.invalid], []);
    assert.deepEqual([...RETRYABLE_STATES].sort(), ['cancelled', 'expired', 'failed', 'incomplete', 'invalid_output']);
    assert.ok(!RETRYABLE_STATES.includes(S.completed));
    assert.ok(!RETRYABLE_STATES.includes(S.invalid));
  });

  test('sourcesOf inverts the table', () => {
    assert.deepEqual(sourcesOf(S.submitted), ['pending']);
    assert.deepEqual(sourcesOf(S.expired), ['submitted']);
    assert.deepEqual(sourcesOf(S.completed).sort(), ['pending', 'submitted']);
    assert.deepEqual(sourcesOf(S.pending).sort(), ['cancelled', 'expired', 'failed', 'incomplete', 'invalid_output', 'not_sent_budget']);
    assert.deepEqual(sourcesOf(S.invalid_output).sort(), ['pending', 'submitted']);
    assert.deepEqual(sourcesOf(S.invalid), []);
    for (const to of ALL) for (const from of sourcesOf(to)) assert.ok(canTransition(from, to));
  });
});

describe('stateForApiStatus', () => {
  test("both vocabularies of a running response mean 'still submitted'", () => {
    for (const status of ['pending', 'running', 'queued', 'in_progress']) {
      assert.equal(stateForApiStatus(status), S.submitted, status);
    }
  });

  test('terminal API statuses map onto their job states', () => {
    assert.equal(stateForApiStatus('completed'), S.completed);
    assert.equal(stateForApiStatus('failed'), S.failed);
    assert.equal(stateForApiStatus('incomplete'), S.incomplete);
    assert.equal(stateForApiStatus('cancelled'), S.cancelled);
    assert.equal(stateForApiStatus('canceled'), S.cancelled);
    assert.equal(stateForApiStatus('expired'), S.expired);
  });

  test('unknown or missing statuses keep polling (the deadline bounds them)', () => {
    for (const status of [undefined, null, '', 'COMPLETED', 42, { status: 'completed' }]) {
      assert.equal(stateForApiStatus(status), S.submitted, String(status));
    }
  });
});
