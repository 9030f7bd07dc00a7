import { ENDPOINT_KINDS } from '../api/endpoints.ts';
import type { LineSource, SourceItem } from './line-source.ts';

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
 * (`row-7@openai/gpt-oss-20b#2`), so it stays readable and unique.
 */
export class PlannedSource implements LineSource {
  constructor(
    private readonly inner: LineSource,
    private readonly o: PlanOptions,
  ) {}

  get file(): string {
    return this.inner.file;
  }

  get bytesRead(): number {
    return this.inner.bytesRead;
  }

  sha256(): string {
    return this.inner.sha256();
  }

  async *items(): AsyncGenerator<SourceItem> {
    const models = this.o.models && this.o.models.length > 0 ? this.o.models : [undefined];
    for await (const item of this.inner.items()) {
      if (item.kind === 'invalid') {
        yield item;
        continue;
      }
      const req = item.request;
      const kind = ENDPOINT_KINDS[req.url];
      let body = req.body;
      if (this.o.schema) body = kind.withSchema(body, this.o.schema.name, this.o.schema.schema);
      const cacheField = kind.promptCacheKeyField;
      if (this.o.promptCacheKey !== undefined && cacheField !== null && body[cacheField] === undefined) {
        body = { ...body, [cacheField]: this.o.promptCacheKey };
      }
      for (const model of models) {
        for (let k = 1; k <= this.o.samples; k++) {
          const customId = `${req.customId}${model === undefined ? '' : `@${model}`}${this.o.samples > 1 ? `#${k}` : ''}`;
          yield {
            ...item,
            request: { ...req, customId, body: model === undefined ? body : { ...body, model } },
            sample: this.o.samples > 1 ? k : undefined,
          };
        }
      }
    }
  }
}
