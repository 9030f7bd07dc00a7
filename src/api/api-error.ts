import { SailbatchError } from '../errors.ts';

export type Headers = Record<string, string | string[] | undefined>;

/** The OpenAI-shaped error body: {"error":{"message","type","param","code"}}. */
interface ErrorBody {
  error?: { message?: unknown; type?: unknown; param?: unknown; code?: unknown };
}

/** Something went wrong talking to the API. Subclasses say what; the retry policy decides what to do. */
export class ApiError extends SailbatchError {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly body: unknown,
    readonly headers: Headers,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  get requestId(): string | undefined {
    const id = this.headers['x-request-id'];
    return Array.isArray(id) ? id[0] : id;
  }

  /** Picks the subclass for an HTTP error status, with the server's own message when it sent one. */
  static fromResponse(status: number, body: unknown, headers: Headers, what: string): ApiError {
    const err = (body as ErrorBody | undefined)?.error;
    const serverMessage = typeof err?.message === 'string' ? err.message : typeof body === 'string' ? body.slice(0, 300) : '';
    const code = typeof err?.code === 'string' ? err.code : typeof err?.type === 'string' ? err.type : undefined;
    const message = `${what}: HTTP ${status}${code ? ` ${code}` : ''}${serverMessage ? `: ${serverMessage}` : ''}`;
    const Cls =
      status === 401
        ? AuthenticationError
        : status === 403
          ? PermissionDeniedError
          : status === 404
            ? NotFoundError
            : status === 409
              ? ConflictError
              : status === 429
                ? RateLimitError
                : status >= 500
                  ? InternalServerError
                  : ApiError;
    return new Cls(message, status, body, headers, code);
  }
}

export class AuthenticationError extends ApiError {
  override name = 'AuthenticationError';
}
export class PermissionDeniedError extends ApiError {
  override name = 'PermissionDeniedError';
}
export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
}
export class ConflictError extends ApiError {
  override name = 'ConflictError';
}
export class RateLimitError extends ApiError {
  override name = 'RateLimitError';
}
export class InternalServerError extends ApiError {
  override name = 'InternalServerError';
}

/** No HTTP answer: refused, reset, DNS, TLS, or the connection dropped mid-reply. */
export class ConnectionError extends ApiError {
  override name = 'ConnectionError';
  constructor(what: string, cause: unknown) {
    const code = (cause as { code?: string }).code;
    super(`${what}: connection error${code ? ` ${code}` : ''}: ${(cause as Error).message}`, undefined, undefined, {}, code, {
      cause,
    });
  }
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_OSSL_)/;

/** A network error code in words a user can act on: which layer failed. */
export function networkErrorName(code: string | undefined): string {
  if (code === 'ECONNREFUSED') return 'connection refused (nothing listens at that address and port)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') return 'DNS lookup failed (no such host)';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'timeout') return 'no answer (timed out)';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host or network unreachable';
  if (code && TLS_CODE.test(code)) return 'TLS error (the certificate or the TLS handshake was refused)';
  return 'network error';
}

export class TimeoutError extends ApiError {
  override name = 'TimeoutError';
  constructor(what: string, timeoutMs: number, cause?: unknown) {
    super(`${what}: no reply within ${timeoutMs} ms`, undefined, undefined, {}, 'timeout', { cause });
  }
}

/** A 2xx whose body is not the JSON object it should be. */
export class InvalidBodyError extends ApiError {
  override name = 'InvalidBodyError';
}
