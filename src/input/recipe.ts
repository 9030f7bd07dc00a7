import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { schemaProblem } from '../answers/schema-validator.ts';
import type { Endpoint } from '../api/endpoints.ts';
import { UsageError } from '../errors.ts';
import type { RunOptions } from '../options.ts';
import type { LineSource } from './line-source.ts';
import { isPlainObject, type LineDefaults } from './normalize.ts';
import type { PrepareOptions } from './prepare-jobs.ts';
import { RequestLineSource } from './request-lines.ts';
import { CsvRowSource } from './rows/csv-rows.ts';
import { JsonlRowSource } from './rows/jsonl-rows.ts';
import { parseTemplate } from './template.ts';
import { TemplatedRowSource } from './templated-rows.ts';

const ENDPOINT_URLS: Record<RunOptions['endpoint'], Endpoint> = {
  responses: '/v1/responses',
  chat: '/v1/chat/completions',
  messages: '/v1/messages',
};

/**
 * Everything besides the data file that decides what is sent: the template, the system prompt,
 * the schema, the fan-out. Its digest is part of the batch's identity, so a checkpoint refuses
 * to resume when any of them changed (as it does when the data file changed).
 */
export interface Recipe {
  source: LineSource;
  sha256: string;
  /** The answer schema's top-level fields, in order (the CSV output's answer columns). */
  answerFields: string[] | null;
  /**
   * Where the CSV output's input columns come from: `header`, a CSV/TSV header (every row that
   * could be read has all its columns); `rows`, JSONL rows, each with its own keys; null,
   * request lines (no data row: a `custom_id` column).
   */
  rowKeys: RowKeys;
}

export type RowKeys = 'header' | 'rows' | null;

async function readText(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new UsageError(`${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code})`}`, { cause: e });
  }
}

/** `--system` is a file when one exists at that path, else the text itself. */
async function systemText(value: string | undefined): Promise<string | undefined> {
  if (value === undefined) return undefined;
  const s = await stat(value).catch(() => undefined);
  return s?.isFile() ? readText(value, '--system') : value;
}

async function loadSchema(file: string): Promise<Record<string, unknown>> {
  const text = await readText(file, '--schema');
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--schema ${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (!isPlainObject(schema)) throw new UsageError(`--schema ${file}: must be a JSON Schema object`);
  const problem = schemaProblem(schema);
  if (problem) throw new UsageError(`--schema ${file}: ${problem}; nothing was sent`);
  return schema;
}

function dataFormat(o: Pick<RunOptions, 'input' | 'inputFormat'>): 'csv' | 'tsv' | 'jsonl' {
  if (o.inputFormat) return o.inputFormat;
  const ext = extname(o.input).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  return 'jsonl';
}

export async function buildRecipe(o: Omit<RunOptions, 'apiKey'>, defaults: LineDefaults, hashBodies = false): Promise<Recipe> {
  if (o.template !== undefined && o.prompt !== undefined) throw new UsageError('--template and --prompt both give the template; pass one');
  const templateText = o.template !== undefined ? await readText(o.template, '--template') : o.prompt;
  const system = await systemText(o.system);
  const schema = o.schema === undefined ? undefined : await loadSchema(o.schema);
  const format = dataFormat(o);
  if (templateText === undefined) {
    if (format !== 'jsonl') throw new UsageError(`${o.input}: a ${format.toUpperCase()} file holds data rows; give the prompt with --template <file> or --prompt <text>`);
    for (const [flag, value] of [['--system', o.system], ['--id-column', o.idColumn]] as const) {
      if (value !== undefined) throw new UsageError(`${flag} applies to data rows rendered through a template; add --template or --prompt`);
    }
  }
  if (o.models !== undefined && o.model !== undefined) throw new UsageError('--model and --models both name the model; pass one');

  const identity = { template: templateText ?? null, system: system ?? null, schema: schema ?? null, endpoint: o.endpoint, idColumn: o.idColumn ?? null,
    format, models: o.models ?? null, samples: o.samples, promptCacheKey: o.promptCacheKey ?? null };
  const sha256 = createHash('sha256').update(JSON.stringify(identity)).digest('hex');
  const promptCacheKey =
    o.promptCacheKey === 'auto'
      ? `sailbatch-${createHash('sha256').update(JSON.stringify([templateText ?? null, system ?? null])).digest('hex').slice(0, 32)}`
      : o.promptCacheKey;

  const name = o.schema === undefined ? 'answer' : basename(o.schema).replace(/(\.schema)?\.json$/i, '').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'answer';
  const prepare: PrepareOptions = { hashBodies };
  // A plan that adds nothing is left out: its copies of every body are garbage at a million lines.
  if (schema || promptCacheKey !== undefined || (o.models?.length ?? 0) > 0 || o.samples > 1) {
    prepare.plan = { schema: schema && { name, schema }, promptCacheKey, models: o.models, samples: o.samples };
  }
  const rowDefaults = { ...defaults, model: defaults.model ?? o.models?.[0] };
  let source: LineSource;
  if (templateText === undefined) {
    source = new RequestLineSource(o.input, { ...prepare, defaults: rowDefaults }, o.maxLineBytes);
  } else {
    const template = parseTemplate(templateText);
    const rows = format === 'jsonl' ? new JsonlRowSource(o.input, o.maxLineBytes) : new CsvRowSource(o.input, format === 'csv' ? ',' : '\t', o.maxLineBytes);
    const rowsOptions = { template, templateName: o.template ?? '--prompt', system, endpoint: ENDPOINT_URLS[o.endpoint], idColumn: o.idColumn, defaults: rowDefaults };
    source = new TemplatedRowSource(rows, rowsOptions, prepare);
  }
  const props = schema && isPlainObject(schema['properties']) ? Object.keys(schema['properties']) : null;
  return { source, sha256, answerFields: props, rowKeys: templateText === undefined ? null : format === 'jsonl' ? 'rows' : 'header' };
}
