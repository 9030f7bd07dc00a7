import { KEY_PREFIX } from '../api/idempotency-key.ts';
import type { JobRow, ResultRow } from '../checkpoint/store.ts';
import { JOB_STATES, UNFINISHED_STATES } from '../checkpoint/job-states.ts';

/**
 * Sail echoes a request's metadata in its response. The webhook token there is a secret (it is
 * what lets a call into the receiver), so it is taken out of every result written; the text is
 * parsed only when it holds one.
 */
function withoutSecrets(result: string): string {
  if (!result.includes('"webhook_token"')) return result;
  const body = JSON.parse(result) as { metadata?: Record<string, unknown> } | null;
  if (!body?.metadata || !('webhook_token' in body.metadata)) return result;
  const { webhook_token: _secret, ...metadata } = body.metadata;
  return JSON.stringify({ ...body, metadata });
}

/**
 * One output line in the OpenAI Batch output shape:
 * {"id","custom_id","response":{"status_code","request_id","body"},"error"}, plus "parsed" (the
 * answer's JSON value) when the request asked for a schema and the answer follows it.
 * The stored result is already JSON, so it is spliced in as text rather than parsed and
 * re-serialised: writing ten million lines stays a string-concatenation job.
 */
export function outputLine(row: ResultRow): string {
  const id = row.idempotencyKey
    ? `batch_req_${row.idempotencyKey.slice(KEY_PREFIX.length, KEY_PREFIX.length + 24)}`
    : `batch_req_line_${row.lineNo}`;
  const head = `{"id":${JSON.stringify(id)},"custom_id":${JSON.stringify(row.customId)}`;
  const response =
    row.statusCode === null && row.result === null
      ? 'null'
      : `{"status_code":${row.statusCode ?? 200},"request_id":${JSON.stringify(row.requestId)},"body":${row.result === null ? 'null' : withoutSecrets(row.result)}}`;
  if (row.state === JOB_STATES.completed) return `${head},"response":${response},"error":null${row.parsed === null ? '' : `,"parsed":${row.parsed}`}}`;
  const error =
    row.state === JOB_STATES.not_sent_budget
      ? { code: row.state, message: NOT_SENT_BUDGET }
      : isUnfinished(row)
        ? { code: 'not_finished', message: `job is still ${row.state}; rerun \`sailbatch run\` with the same arguments to finish it` }
        : { code: row.errorCode ?? row.state, message: row.errorMessage ?? `job ended ${row.state}` };
  return `${head},"response":${response},"error":${JSON.stringify(error)}}`;
}

const NOT_SENT_BUDGET =
  'not sent: the --max-cost cap was reached before this line; rerun the same command with a higher --max-cost to send it (same idempotency key)';

export function isUnfinished(row: Pick<JobRow, 'state'>): boolean {
  return UNFINISHED_STATES.includes(row.state);
}
