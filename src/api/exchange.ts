import type { Dispatcher } from 'undici';
import type { Headers } from './api-error.ts';

/** What came back: the status, headers and whole body of one HTTP exchange. */
export interface RawReply {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * One request as an undici dispatch handler: the body is gathered as it arrives and handed over
 * once, whole, with no stream and no AbortController; `abort` ends the request from outside (its
 * timeout, the run stopping) through the controller undici gives the handler.
 */
export class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private status = 0;
  private headers: Headers = {};
  private readonly chunks: Buffer[] = [];
  private settled = false;
  private abortedWith: Error | undefined;
  /** Called once when the exchange settles, either way. */
  onEnd: (() => void) | undefined;

  constructor(
    private readonly resolve: (reply: RawReply) => void,
    private readonly reject: (error: Error) => void,
  ) {}

  /** Ends the request now with `error` (undici may still be queueing it: then it is never sent). */
  abort(error: Error): void {
    if (this.settled) return;
    this.abortedWith = error;
    this.controller?.abort(error);
    this.fail(error);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortedWith) controller.abort(this.abortedWith);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Headers): void {
    this.status = statusCode;
    this.headers = headers;
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.onEnd?.();
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.resolve({ status: this.status, headers: this.headers, text: body.toString('utf8') });
  }

  onResponseError(_c: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  private fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.onEnd?.();
    this.reject(error);
  }
}
