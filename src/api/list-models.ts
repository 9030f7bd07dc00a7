import { FatalRunError } from '../errors.ts';
import { ApiError } from './api-error.ts';
import { apiOptionsSchema } from '../options.ts';
import { parseOptions } from '../parse-options.ts';
import { RequestFailed, SailClient } from './client.ts';

/** One entry of GET /v1/models (OpenAI's shape; extra fields are kept). */
export interface ModelInfo {
  id: string;
  object?: string;
  created?: number;
  owned_by?: string;
  [field: string]: unknown;
}

export interface ListModelsOptions {
  /** @default env SAIL_BASE_URL, else https://api.sailresearch.com/v1 */
  baseUrl?: string;
  /** @default env SAIL_API_KEY */
  apiKey?: string;
  /** Timeout of one request. @default 30000 */
  requestTimeoutMs?: number;
  /** Retries on transient errors. @default 2 */
  maxRetries?: number;
  signal?: AbortSignal;
}

function refusal(e: ApiError, baseUrl: string): FatalRunError {
  const keyProblem = e.status === 401 || e.status === 403;
  return new FatalRunError(
    keyProblem
      ? `${baseUrl} refused the API key (${e.message}); check --api-key or SAIL_API_KEY`
      : `could not list the models at ${baseUrl} (${e.message}); check --base-url and the network`,
    { cause: e },
  );
}

/** The models the API key may use, as GET /v1/models lists them. Any failure is a FatalRunError. */
export async function listModels(o: ListModelsOptions = {}): Promise<ModelInfo[]> {
  const { baseUrl, apiKey } = parseOptions(apiOptionsSchema, { baseUrl: o.baseUrl, apiKey: o.apiKey });
  const timeoutMs = o.requestTimeoutMs ?? 30_000;
  const client = new SailClient({
    baseUrl,
    apiKey,
    concurrency: 1,
    maxRequestsPerSecond: 0,
    requestTimeoutMs: timeoutMs,
    syncTimeoutMs: timeoutMs,
    maxRetries: o.maxRetries ?? 2,
    unreachableAfterMs: timeoutMs,
  });
  try {
    const reply = await client.listModels(o.signal);
    const data = reply.body['data'];
    if (!Array.isArray(data) || data.some((m) => typeof (m as { id?: unknown })?.id !== 'string')) {
      throw new FatalRunError(`${baseUrl}: GET models answered without a "data" list of models; check --base-url`);
    }
    return data as ModelInfo[];
  } catch (e) {
    if (e instanceof RequestFailed) throw refusal(e.error, baseUrl);
    if (e instanceof FatalRunError && e.cause instanceof ApiError) throw refusal(e.cause, baseUrl);
    throw e;
  } finally {
    await client.close();
  }
}
