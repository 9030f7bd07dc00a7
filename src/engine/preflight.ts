import { ConnectionError, NotFoundError, TimeoutError, networkErrorName, type ApiError } from '../api/api-error.ts';
import { RequestFailed, type SailClient } from '../api/client.ts';
import { FatalRunError, UnknownModelsError, UsageError } from '../errors.ts';

/** Edit distance, case-insensitive: how a typo'd model name finds the one it meant. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1)));
    prev = row;
  }
  return prev[y.length]!;
}

export function closestFirst(name: string, candidates: readonly string[]): string[] {
  return [...candidates].sort((a, b) => distance(name, a) - distance(name, b) || a.localeCompare(b));
}

function unreachable(baseUrl: string, error: ApiError): FatalRunError {
  return new FatalRunError(
    `${baseUrl} does not answer: ${networkErrorName(error.code)} (${error.message}). ` +
      'Check --base-url and the network (proxy, firewall, DNS); nothing was sent. Rerun the same command once it answers.',
    { cause: error },
  );
}

/**
 * The checks before the first POST of a run, with one GET /models: that the base URL is a Sail
 * API that answers, and that every model the requests name is one the key can use. Without them
 * a typo in a model name or a URL missing /v1 would be paid for in time, one failed line at a
 * time. `models` maps each model named by a request still to be sent to its number of lines.
 */
export async function preflight(client: SailClient, baseUrl: string, models: ReadonlyMap<string, number>, signal?: AbortSignal): Promise<void> {
  let listed: string[];
  try {
    const reply = await client.listModels(signal);
    const data = reply.body['data'];
    if (!Array.isArray(data)) {
      throw new UsageError(`${baseUrl}: GET models answered without a "data" list of models; this does not look like a Sail API base URL (it should end in /v1)`);
    }
    listed = data.map((m) => (m as { id?: unknown } | null)?.id).filter((id): id is string => typeof id === 'string');
  } catch (e) {
    if (e instanceof RequestFailed && e.error instanceof NotFoundError) {
      throw new UsageError(`${baseUrl}: GET models answered 404: this does not look like a Sail API base URL; it should end in /v1 (e.g. https://api.sailresearch.com/v1). Nothing was sent.`, { cause: e });
    }
    const cause = e instanceof RequestFailed ? e.error : e instanceof FatalRunError ? e.cause : undefined;
    if (cause instanceof ConnectionError || cause instanceof TimeoutError) throw unreachable(baseUrl, cause);
    if (e instanceof RequestFailed) throw new FatalRunError(`${baseUrl}: could not list the models (${e.message}); nothing was sent. Rerun the same command to try again.`, { cause: e });
    throw e;
  }
  const available = new Set(listed);
  const unknown = [...models]
    .filter(([model]) => !available.has(model))
    .map(([model, lines]) => ({ model, lines, closest: closestFirst(model, listed) }));
  if (unknown.length > 0) throw new UnknownModelsError(baseUrl, unknown);
}
