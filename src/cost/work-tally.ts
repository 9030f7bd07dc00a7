import type { CompletionWindow } from '../api/completion-window.ts';
import { ENDPOINT_KINDS, type Endpoint } from '../api/endpoints.ts';
import { exactTokenizer, inputTokens } from './input-tokens.ts';

/** The requests of one endpoint × model × completion window, summed. */
export interface WorkGroup {
  endpoint: Endpoint;
  model: string;
  completionWindow: CompletionWindow;
  requests: number;
  /** o200k_base count of the prompts' text (see input-tokens.ts). */
  inputTokens: number;
  /** True when o200k_base is this model's own tokenizer; otherwise `inputTokens` is an estimate. */
  inputTokensExact: boolean;
  /** Sum of the output-token caps of the requests that set one. */
  outputTokenCap: number;
  /** Requests with no output-token cap: nothing bounds what they may produce. */
  uncapped: number;
}

/**
 * Sums requests as they would be sent (run defaults applied) into groups. Holds one entry per
 * group, never the requests, so a file of any size is tallied in constant memory.
 */
export class WorkTally {
  private readonly byKey = new Map<string, WorkGroup>();

  add(endpoint: Endpoint, body: Readonly<Record<string, unknown>>, completionWindow: CompletionWindow): void {
    const model = String(body['model']);
    const key = `${endpoint}\u0000${model}\u0000${completionWindow}`;
    let g = this.byKey.get(key);
    if (!g) {
      g = { endpoint, model, completionWindow, requests: 0, inputTokens: 0, inputTokensExact: exactTokenizer(model), outputTokenCap: 0, uncapped: 0 };
      this.byKey.set(key, g);
    }
    g.requests++;
    g.inputTokens += inputTokens(body);
    const cap = body[ENDPOINT_KINDS[endpoint].maxTokensField];
    if (typeof cap === 'number') g.outputTokenCap += cap;
    else g.uncapped++;
  }

  /** Groups in a stable order: endpoint, model, window. */
  groups(): WorkGroup[] {
    return [...this.byKey.values()].sort(
      (a, b) => a.endpoint.localeCompare(b.endpoint) || a.model.localeCompare(b.model) || a.completionWindow.localeCompare(b.completionWindow),
    );
  }
}
