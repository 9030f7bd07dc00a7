import { z } from 'zod';
import { DEFAULT_BASE_URL } from './api/base-url.ts';
import { COMPLETION_WINDOWS } from './api/completion-window.ts';
import { UsageError } from './errors.ts';
import { fromEnv } from './option-env.ts';

/**
 * Every run option, its default and its unit, in one place. The CLI parses its flags through
 * this same schema (argv-to-options), so the library and the CLI cannot disagree.
 */
export const runOptionsSchema = z.object({
  /** Input file: JSONL requests, or data rows (CSV, TSV, JSONL objects) with a template. */
  input: z.string().min(1),
  /** Results file, written atomically in input order. */
  output: z.string().min(1),
  /** Format of a data file; default from its extension (.csv, .tsv, .jsonl). */
  inputFormat: z.enum(['csv', 'tsv', 'jsonl']).optional(),
  /** Template file whose `{{column}}` placeholders each data row fills: one request per row. */
  template: z.string().min(1).optional(),
  /** The template as text, instead of a file. */
  prompt: z.string().min(1).optional(),
  /** System prompt (text, or a file holding it) sent as a first `developer` message. */
  system: z.string().min(1).optional(),
  /** Endpoint of templated requests. @default 'responses' */
  endpoint: z.enum(['responses', 'chat', 'messages']).default('responses'),
  /** Column of a data file holding each row's custom_id (default: `row-<N>`). */
  idColumn: z.string().min(1).optional(),
  /** JSON Schema file: every request asks for answers that follow it, and every answer is checked. */
  schema: z.string().min(1).optional(),
  /** Answers that are not JSON or break the schema are asked again, up to this many times each. @default 0 */
  outputRetries: z.number().int().min(0).max(10).default(0),
  /** Output format; default from the output's extension (.csv → csv, else jsonl). */
  format: z.enum(['jsonl', 'csv']).optional(),
  /** Send every request to each of these models (eval fan-out). */
  models: z.array(z.string().min(1)).min(1).optional(),
  /** Ask this many times per request and model, each sample with its own idempotency key. @default 1 */
  samples: z.number().int().min(1).max(100).default(1),
  /** Sail's prompt_cache_key for every request; `auto`: a hash of the template and system prompt. */
  promptCacheKey: z.string().min(1).max(256).optional(),
  /** Checkpoint SQLite file. @default `<output>.checkpoint.sqlite` */
  db: z.string().min(1).optional(),
  /** @default env SAIL_BASE_URL, else https://api.sailresearch.com/v1 */
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).prefault(() => fromEnv('baseUrl') ?? DEFAULT_BASE_URL),
  /** Sail API key. @default env SAIL_API_KEY */
  apiKey: z.string().min(1, { error: 'is empty' }).prefault(() => fromEnv('apiKey') as string),
  /** Model for lines that do not name one. */
  model: z.string().min(1).optional(),
  /** Model for every line, replacing the one it names (batch files written for other models). */
  forceModel: z.string().min(1).optional(),
  /** Completion window for lines whose metadata does not set one. @default '24h' */
  completionWindow: z.enum(COMPLETION_WINDOWS).default('24h'),
  /** Output-token cap for lines that do not set one. */
  maxOutputTokens: z.number().int().min(1).optional(),
  /** Most requests in flight at once. @default 32 */
  concurrency: z.number().int().min(1).max(1024).default(32),
  /** Cap on requests per second across the run; 0 for none. @default 100 */
  maxRequestsPerSecond: z.number().min(0).default(100),
  /** First poll delay for every window (default: per window, 1 s to 30 s). */
  pollIntervalMs: z.number().int().min(1).optional(),
  /** Longest delay between polls for every window (default: per window, 10 s to 10 min). */
  maxPollIntervalMs: z.number().int().min(1).optional(),
  /** A job not terminal this long after submission ends `expired` (default: its window plus grace). */
  jobDeadlineMs: z.number().int().min(1).optional(),
  /** Timeout of one background request (POST or GET). @default 60000 */
  requestTimeoutMs: z.number().int().min(1).default(60_000),
  /** Timeout of one synchronous request (chat completions, messages). @default 900000 */
  syncTimeoutMs: z.number().int().min(1).default(15 * 60_000),
  /** Retries of one request on transient errors before it counts as failed. @default 8 */
  maxRetries: z.number().int().min(0).default(8),
  /** With no HTTP answer at all for this long, the run stops with exit 3. @default 600000 */
  unreachableAfterMs: z.number().int().min(1).default(10 * 60_000),
  /** Before the API has answered anything in this run, the same bound is this short: a wrong URL or no network fails fast. @default 30000 */
  firstContactTimeoutMs: z.number().int().min(1).default(30_000),
  /** Part of every idempotency key: change it to pay for fresh inference of the same file. @default 'default' */
  namespace: z.string().min(1).max(100).default('default'),
  /** Run the valid lines and give each invalid one an error line in the output. @default false */
  skipInvalid: z.boolean().default(false),
  /** Before running, send jobs that ended unsuccessfully again, with a new attempt number. @default false */
  retryFailed: z.boolean().default(false),
  /** Longest input line accepted, in bytes. @default 8388608 */
  maxLineBytes: z.number().int().min(1024).default(8 * 1024 * 1024),
  /** Also write the lines that did not complete to this file. */
  errorsOutput: z.string().min(1).optional(),
  /** Public URL of the completion webhook Sail should call (needs webhookListen). */
  webhookUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /** host:port the webhook receiver listens on. */
  webhookListen: z.string().min(1).optional(),
  /** Price table file (model → completion window → USD per 1M input, cached-input and output tokens): costs in dry runs, summaries and status. */
  prices: z.string().min(1).optional(),
  /** Spend cap in USD over every run of the batch: sending stops before it could be passed. Needs `prices`. */
  maxCostUsd: z.number().positive().finite().optional(),
  /**
   * A lease (SQLite) or a worker's claims and budget share (PostgreSQL) not renewed for this long
   * belong to a dead process and may be taken over. @default 30000
   */
  leaseStaleMs: z.number().int().min(100).default(30_000),
  /** Seeded randomness for jitter (tests); default Math.random. */
  random: z.custom<() => number>((v) => typeof v === 'function').optional(),
});

export type RunOptionsInput = z.input<typeof runOptionsSchema>;

/**
 * `sailbatch worker`: joins a batch of a PostgreSQL database by id. Everything else (requests,
 * windows, the fleet's budget) is the batch's, as the `run` that created it recorded it.
 */
export const workerOptionsSchema = z.object({
  /** PostgreSQL URL of the database holding the batch. */
  db: z.string().regex(/^postgres(ql)?:\/\//i, { error: 'must be a postgres:// URL (workers share a PostgreSQL database)' }),
  /** The batch to work on (`sailbatch batches` lists them). */
  batch: z.number().int().min(1),
  /** Sail API key: the one the batch was started with. @default env SAIL_API_KEY */
  apiKey: z.string().min(1, { error: 'is empty' }).prefault(() => fromEnv('apiKey') as string),
  /** @default the base URL the batch was started with */
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /** @default the batch's own (see runOptionsSchema.leaseStaleMs) */
  leaseStaleMs: z.number().int().min(100).optional(),
  /** Seeded randomness for jitter (tests); default Math.random. */
  random: z.custom<() => number>((v) => typeof v === 'function').optional(),
});

export type WorkerOptionsInput = z.input<typeof workerOptionsSchema>;
export type RunOptions = z.output<typeof runOptionsSchema>;

/** How a caller reaches Sail; the CLI's other commands and `listModels` parse through it. */
export const apiOptionsSchema = runOptionsSchema.pick({ baseUrl: true, apiKey: true });

/** As the input, `-` is stdin (spooled beside the checkpoint); as the output, stdout. */
export const STDIO = '-';

/** The checkpoint of a run that names none: beside its results file. */
export function defaultDbPath(output: string): string {
  if (output === STDIO) {
    throw new UsageError('-o - writes the results to stdout, so there is no results file to keep the checkpoint beside: name it with --db (a rerun with the same --db resumes)');
  }
  return `${output}.checkpoint.sqlite`;
}
