import type { EndpointKind } from '../api/endpoints.ts';
import { JOB_STATES } from '../checkpoint/job-states.ts';
import { schemaErrors } from './schema-validator.ts';

/**
 * What a finished answer turned out to be. The server's `completed` is only the first word:
 * an answer cut at the output-token cap is `incomplete` (the server may still say completed,
 * with the reason in `incomplete_details`, `finish_reason` or `stop_reason`), and an answer to a
 * request that asked for JSON following a schema is `invalid_output` unless it is that.
 */
export type Verdict =
  | { state: typeof JOB_STATES.completed; parsed: string | null }
  | { state: typeof JOB_STATES.incomplete | typeof JOB_STATES.invalid_output; errorCode: string; errorMessage: string };

type Json = Record<string, unknown>;

/**
 * The chain of checks after a job completes, decided once, here: cut at the token limit, then
 * JSON, then the JSON Schema. `schema` is what the request asked its answer to follow (none: the
 * answer is text and only the first check applies). `parsed` is the answer's JSON text when
 * there was a schema, for the output's `parsed` field.
 */
export function checkAnswer(kind: EndpointKind, result: Json, schema: Json | undefined): Verdict {
  if (kind.truncated(result)) {
    const cap = result[kind.maxTokensField];
    return {
      state: JOB_STATES.incomplete,
      errorCode: 'max_output_tokens',
      errorMessage:
        `the answer was cut at the output-token cap${typeof cap === 'number' ? ` (${kind.maxTokensField} ${cap})` : ''}; ` +
        'raise --max-output-tokens (or the line\'s own cap) and run `sailbatch retry`',
    };
  }
  if (schema === undefined) return { state: JOB_STATES.completed, parsed: null };
  const text = kind.outputText(result) ?? '';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const shown = text.length > 60 ? `${JSON.stringify(text.slice(0, 60)).slice(0, -1)}…"` : JSON.stringify(text);
    return { state: JOB_STATES.invalid_output, errorCode: 'invalid_json', errorMessage: `the answer is not JSON (${(e as Error).message}): ${shown}` };
  }
  const errors = schemaErrors(schema, value);
  if (errors.length > 0) {
    return { state: JOB_STATES.invalid_output, errorCode: 'schema_mismatch', errorMessage: `the answer does not follow the schema: ${errors.join('; ')}` };
  }
  return { state: JOB_STATES.completed, parsed: JSON.stringify(value) };
}
