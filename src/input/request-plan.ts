import { ENDPOINT_KINDS } from '../api/endpoints.ts';
import type { NormalizedLine } from './normalize.ts';

export interface PlanOptions {
  /** Asked of every request in its endpoint's own way (text.format, response_format, output_config). */
  schema?: { name: string; schema: Record<string, unknown> } | undefined;
  /** Sail's prompt-cache routing hint, for requests that do not set one. */
  promptCacheKey?: string | undefined;
  /** Every request goes to each of these models (what a line states is replaced). */
  models?: readonly string[] | undefined;
  /** Asked this many times per request and model, each under its own custom_id and key. */
  samples: number;
}

/**
 * What the run options add to every request of any source: the answer schema, the prompt-cache
 * key, and the eval fan-out (models × samples). Fan-out jobs follow their request in input
 * order, model by model, sample by sample, and their custom_id says which they are
 * (`row-7@openai/gpt-oss-20b#2`), so it stays readable and unique. `sample` is given only when
 * more than one is asked for.
 */
export function forEachPlanned(req: NormalizedLine, o: PlanOptions, visit: (req: NormalizedLine, sample: number | undefined) => void): void {
  const models = o.models && o.models.length > 0 ? o.models : [undefined];
  const kind = ENDPOINT_KINDS[req.url];
  let body = req.body;
  if (o.schema) body = kind.withSchema(body, o.schema.name, o.schema.schema);
  const cacheField = kind.promptCacheKeyField;
  if (o.promptCacheKey !== undefined && cacheField !== null && body[cacheField] === undefined) {
    body = { ...body, [cacheField]: o.promptCacheKey };
  }
  for (const model of models) {
    for (let k = 1; k <= o.samples; k++) {
      const customId = `${req.customId}${model === undefined ? '' : `@${model}`}${o.samples > 1 ? `#${k}` : ''}`;
      visit({ ...req, customId, body: model === undefined ? body : { ...body, model } }, o.samples > 1 ? k : undefined);
    }
  }
}
