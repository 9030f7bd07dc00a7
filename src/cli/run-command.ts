import type { Argv, CommandModule } from 'yargs';
import { COMPLETION_WINDOWS } from '../api/completion-window.ts';
import { apiFlags, type ApiArgs } from './api-flags.ts';
import { optionalDuration } from './duration.ts';
import type { CliIo } from './io.ts';

export interface RunArgs extends ApiArgs {
  input: string;
  output: string;
  db?: string;
  model?: string;
  'force-model'?: string;
  'completion-window': string;
  'max-output-tokens'?: number;
  concurrency: number;
  'max-rps': number;
  'poll-interval'?: string;
  'max-poll-interval'?: string;
  'job-deadline'?: string;
  'request-timeout': string;
  'max-retries': number;
  namespace: string;
  'skip-invalid': boolean;
  'max-line-bytes'?: number;
  'retry-failed': boolean;
  errors?: string;
  'errors-file'?: string;
  simulate: boolean;
  quiet: boolean;
  json: boolean;
  'log-every': string;
  'webhook-url'?: string;
  'webhook-listen'?: string;
  'dry-run': boolean;
  'input-format'?: string;
  template?: string;
  prompt?: string;
  system?: string;
  endpoint: string;
  'id-column'?: string;
  schema?: string;
  'output-retries': number;
  format?: string;
  models?: string;
  samples: number;
  'prompt-cache-key'?: string;
  prices?: string;
  'max-cost'?: number;
  'lease-stale'?: string;
}

export function runFlags<T>(y: Argv<T>) {
  return apiFlags(y)
    .positional('input', { type: 'string', describe: 'input: a JSONL file of requests, or data rows (CSV, TSV, JSONL objects) with --template/--prompt; - reads stdin (kept beside the checkpoint for reruns)', demandOption: true })
    .option('output', { alias: 'o', type: 'string', describe: 'results file, JSONL or CSV (written atomically, in input order); - for stdout (then --db is needed)', demandOption: true })
    .option('input-format', { type: 'string', choices: ['csv', 'tsv', 'jsonl'], describe: 'format of a data file [default: from its extension]' })
    .option('template', { type: 'string', describe: 'prompt template file: {{column}} placeholders filled from each data row, one request per row' })
    .option('prompt', { type: 'string', describe: 'the prompt template as text, instead of --template' })
    .option('system', { type: 'string', describe: 'system prompt (text or a file), sent as a first developer message' })
    .option('endpoint', { type: 'string', choices: ['responses', 'chat', 'messages'], default: 'responses', describe: 'endpoint of templated requests' })
    .option('id-column', { type: 'string', describe: "column holding each row's custom_id [default: row-<N>]" })
    .option('schema', { type: 'string', describe: 'JSON Schema file: every request asks for it, every answer is checked against it' })
    .option('output-retries', { type: 'number', default: 0, describe: 'ask again, up to this many times, for answers that are not JSON or break the schema' })
    .option('format', { type: 'string', choices: ['jsonl', 'csv'], describe: 'output format [default: from the output extension]' })
    .option('models', { type: 'string', describe: 'comma-separated models: send every row or line to each (eval fan-out)' })
    .option('samples', { type: 'number', default: 1, describe: 'answers per row and model, each with its own idempotency key' })
    .option('prompt-cache-key', { type: 'string', describe: "Sail's prompt_cache_key for every request; auto: a hash of the template and system prompt" })
    .option('db', { type: 'string', describe: 'checkpoint SQLite file, or a postgres:// URL that several workers share [default: <output>.checkpoint.sqlite]' })
    .option('model', { type: 'string', describe: 'model for lines that do not name one' })
    .option('force-model', { type: 'string', describe: 'model for every line, replacing the one it names (e.g. OpenAI batch files)' })
    .option('completion-window', { type: 'string', choices: COMPLETION_WINDOWS, default: '24h', describe: "window for lines whose metadata has none (a line's own wins)" })
    .option('max-output-tokens', { type: 'number', describe: 'output-token cap for lines that do not set one' })
    .option('concurrency', { alias: 'c', type: 'number', default: 32, describe: 'most requests in flight' })
    .option('max-rps', { type: 'number', default: 100, describe: 'most requests per second (0: no cap)' })
    .option('poll-interval', { type: 'string', describe: 'first poll delay, e.g. 2s [default: per window, 1s to 30s]' })
    .option('max-poll-interval', { type: 'string', describe: 'longest delay between polls [default: per window, 10s to 10m]' })
    .option('job-deadline', { type: 'string', describe: 'a job not finished this long after submission ends expired [default: window + grace]' })
    .option('request-timeout', { type: 'string', default: '60s', describe: 'timeout of one request' })
    .option('max-retries', { type: 'number', default: 8, describe: 'retries of one request on transient errors' })
    .option('namespace', { type: 'string', default: 'default', describe: 'part of every idempotency key; change it to pay for fresh answers to the same file' })
    .option('skip-invalid', { type: 'boolean', default: false, describe: 'run the valid lines; invalid ones get an error line in the output' })
    .option('max-line-bytes', { type: 'number', describe: 'longest input line accepted, in bytes [default: 8 MiB]' })
    .option('retry-failed', { type: 'boolean', default: false, describe: 'first send again the jobs that ended unsuccessfully (new idempotency keys)' })
    .option('errors', { type: 'string', describe: 'also write the lines that did not complete to this file' })
    .option('errors-file', { type: 'string', describe: 'write every invalid input line (file:line: field: reason) to this file; the terminal lists the first 20 and a summary' })
    .option('simulate', { type: 'boolean', default: false, describe: "run against sailbatch's built-in Sail simulator (no key, nothing billed)" })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress output' })
    .option('json', { type: 'boolean', default: false, describe: 'print the end-of-run summary as one JSON object on stdout' })
    .option('webhook-url', { type: 'string', describe: 'URL Sail calls when a response finishes (polling becomes a slow safety net)' })
    .option('webhook-listen', { type: 'string', describe: 'host:port where this process receives those calls' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'validate and count what a run would send (requests, tokens, cost); send nothing, write nothing' })
    .option('prices', { type: 'string', describe: 'price table (JSON: model → window → USD per 1M tokens; see fixtures/prices.example.json)' })
    .option('max-cost', { type: 'number', describe: 'stop sending before the batch could cost more than this many USD (needs --prices)' })
    .option('log-every', { type: 'string', default: '5s', describe: 'off a TTY, how often to log a progress line' })
    .option('lease-stale', { type: 'string', describe: "how long a dead run's lease (or a dead worker's claims) outlives its last heartbeat [default: 30s]" });
}

export function runCommand(
  io: CliIo,
  command = 'run <input>',
  describe = 'run a JSONL file of requests; rerun the same command to resume',
  forced: Partial<RunArgs> = {},
): CommandModule<object, RunArgs> {
  return {
    command,
    describe,
    builder: (y) => runFlags(y) as unknown as Argv<RunArgs>,
    handler: async (args) => {
      const { executeRun } = await import('./run.ts');
      io.exitCode = await executeRun({ ...args, ...forced }, io);
    },
  };
}

/** Options whose flag is not their key in kebab-case (durations drop the `Ms` unit: the flag takes "2s"). */
const FLAG_OF: Record<string, string> = { maxRequestsPerSecond: 'max-rps', errorsOutput: 'errors' };

/** The flag a user types for a run option, for messages about it. */
export function flagOf(key: string): string {
  return `--${FLAG_OF[key] ?? key.replace(/Ms$/, '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function argvToRunOptions(a: RunArgs) {
  return {
    input: a.input,
    output: a.output,
    db: a.db,
    baseUrl: a['base-url'],
    apiKey: a['api-key'],
    model: a.model,
    forceModel: a['force-model'],
    completionWindow: a['completion-window'] as (typeof COMPLETION_WINDOWS)[number],
    maxOutputTokens: a['max-output-tokens'],
    concurrency: a.concurrency,
    maxRequestsPerSecond: a['max-rps'],
    pollIntervalMs: optionalDuration('poll-interval', a['poll-interval']),
    maxPollIntervalMs: optionalDuration('max-poll-interval', a['max-poll-interval']),
    jobDeadlineMs: optionalDuration('job-deadline', a['job-deadline']),
    requestTimeoutMs: optionalDuration('request-timeout', a['request-timeout']),
    maxRetries: a['max-retries'],
    namespace: a.namespace,
    skipInvalid: a['skip-invalid'],
    maxLineBytes: a['max-line-bytes'],
    retryFailed: a['retry-failed'],
    errorsOutput: a.errors,
    webhookUrl: a['webhook-url'],
    webhookListen: a['webhook-listen'],
    prices: a.prices,
    inputFormat: a['input-format'] as 'csv' | 'tsv' | 'jsonl' | undefined,
    template: a.template,
    prompt: a.prompt,
    system: a.system,
    endpoint: a.endpoint as 'responses' | 'chat' | 'messages',
    idColumn: a['id-column'],
    schema: a.schema,
    outputRetries: a['output-retries'],
    format: a.format as 'jsonl' | 'csv' | undefined,
    models: a.models?.split(',').map((m) => m.trim()).filter(Boolean),
    samples: a.samples,
    promptCacheKey: a['prompt-cache-key'],
    maxCostUsd: a['max-cost'],
    leaseStaleMs: optionalDuration('lease-stale', a['lease-stale']),
  };
}
