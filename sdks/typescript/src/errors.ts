/**
 * The error hierarchy. Every error the SDK throws is a {@link J0Error}; API refusals carry the
 * HTTP `status` and the wire `code`, transport failures are {@link APIConnectionError}.
 *
 * `status` is `0` when nothing reached the server: the SDK refused the call before sending it
 * (for example a {@link ValidationError} for credits outside 5–100) or the transport failed.
 */

/** Options every {@link J0Error} is built from. */
export interface J0ErrorOptions {
  /** HTTP status of the answer; `0` when no answer was involved. */
  status: number;
  /** The wire `code` (`UPPER_SNAKE`); `undefined` when the answer was not the error envelope. */
  code?: string | undefined;
  /** The `x-request-id` the server logged the request under, when there was an answer. */
  requestId?: string | undefined;
  /** What caused this error (for example the underlying network error). */
  cause?: unknown;
}

/** Base class of every error the SDK throws. */
export class J0Error extends Error {
  /** The class's own name (`'RateLimitedError'`, ...), as for the built-in errors. */
  override name: string = this.constructor.name;
  /** HTTP status of the answer; `0` when the SDK refused before sending or no answer came. */
  readonly status: number;
  /** The wire `code`; `undefined` when the body was not the `{error, code}` envelope. */
  readonly code: string | undefined;
  /** The `x-request-id` header of the answer, useful when reporting a problem. */
  readonly requestId: string | undefined;

  constructor(message: string, options: J0ErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.code = options.code;
    this.requestId = options.requestId;
  }
}

/** The transport failed: connection refused or reset, DNS failure, or no answer in time. */
export class APIConnectionError extends J0Error {
  constructor(message: string, cause?: unknown) {
    super(message, { status: 0, cause });
  }
}

/** No answer arrived within `timeoutMs`. */
export class APITimeoutError extends APIConnectionError {}

/** 401: the credentials were refused. */
export class AuthenticationError extends J0Error {}
/** 401 `UNAUTHORIZED`: missing, malformed, expired, revoked or tampered token. */
export class UnauthorizedError extends AuthenticationError {}
/** 401 `INVALID_SIGNATURE`: the signature does not recover to the address. */
export class InvalidSignatureError extends AuthenticationError {}
/** 401 `CHALLENGE_NOT_FOUND`: no such nonce, or one issued to another address. */
export class ChallengeNotFoundError extends AuthenticationError {}
/** 401 `CHALLENGE_EXPIRED`: the challenge is older than 60 seconds. */
export class ChallengeExpiredError extends AuthenticationError {}
/** 401 `CHALLENGE_USED`: the challenge was already exchanged for a token. */
export class ChallengeUsedError extends AuthenticationError {}

/** 403: the caller may not do this to this resource. */
export class PermissionDeniedError extends J0Error {}
/** 403 `OWN_JOB`: a requester cannot accept their own job. */
export class OwnJobError extends PermissionDeniedError {}
/** 403 `NOT_THE_WORKER`: only the job's worker may complete it. */
export class NotTheWorkerError extends PermissionDeniedError {}
/** 403 `NOT_THE_REQUESTER`: only the job's requester may cancel it. */
export class NotTheRequesterError extends PermissionDeniedError {}

/** 404: `NOT_FOUND` (no such route) itself, and the parent of the resource-specific codes. */
export class NotFoundError extends J0Error {}
/** 404 `JOB_NOT_FOUND`. */
export class JobNotFoundError extends NotFoundError {}
/** 404 `USER_NOT_FOUND`. */
export class UserNotFoundError extends NotFoundError {}

/** 400: the parent of every 400 code below. */
export class BadRequestError extends J0Error {}
/**
 * 400 `VALIDATION_ERROR`: a field is missing, malformed or out of range. Also thrown with
 * `status` 0 by checks the SDK makes before sending (capability, credits, timeout, prompt).
 */
export class ValidationError extends BadRequestError {}
/** 400 `INSUFFICIENT_CREDITS`, with the balance (`have`) and the job's price (`need`) in cents. */
export class InsufficientCreditsError extends BadRequestError {
  /** The caller's `total_cents`, parsed from the message; `undefined` if it did not say. */
  readonly have: number | undefined;
  /** The credits the job needed, parsed from the message; `undefined` if it did not say. */
  readonly need: number | undefined;

  constructor(message: string, options: J0ErrorOptions) {
    super(message, options);
    const match = /have (\d+), need (\d+)/.exec(message);
    this.have = match?.[1] === undefined ? undefined : Number(match[1]);
    this.need = match?.[2] === undefined ? undefined : Number(match[2]);
  }
}
/** 400 `JOB_ALREADY_ACCEPTED`: another worker was first (or, on cancel, the job was taken). */
export class JobAlreadyAcceptedError extends BadRequestError {}
/** 400 `JOB_EXPIRED`: the job's acceptance window has passed. */
export class JobExpiredError extends BadRequestError {}
/** 400 `JOB_NOT_AVAILABLE`: the job was cancelled or timed out. */
export class JobNotAvailableError extends BadRequestError {}
/** 400 `JOB_NOT_ACCEPTED`: completing a job that is not in `accepted`. */
export class JobNotAcceptedError extends BadRequestError {}
/** 400 `TIMEOUT_EXPIRED`: the result came after the job's deadline. */
export class TimeoutExpiredError extends BadRequestError {}
/** 400 `TOO_MANY_OPEN_JOBS`: the worker already holds the maximum of accepted jobs. */
export class TooManyOpenJobsError extends BadRequestError {}
/** 400 `IDEMPOTENCY_KEY_REUSED`: the key was used for a post with a different body. */
export class IdempotencyKeyReusedError extends BadRequestError {}
/** 400 `INVALID_AMOUNT`: `amountUsd` is not one of 5, 10, 20, 50, 100. */
export class InvalidAmountError extends BadRequestError {}
/** 400 `INVALID_WEBHOOK_SIGNATURE`: a Stripe webhook with a bad or missing signature. */
export class InvalidWebhookSignatureError extends BadRequestError {}

/** 405 `METHOD_NOT_ALLOWED`: a known path with another method. */
export class MethodNotAllowedError extends J0Error {}
/** 413 `PAYLOAD_TOO_LARGE`: the body is over the route's limit. */
export class PayloadTooLargeError extends J0Error {}
/** 415 `UNSUPPORTED_MEDIA_TYPE`: a body that is not `application/json`. */
export class UnsupportedMediaTypeError extends J0Error {}
/** 429 `RATE_LIMITED`, with the seconds to wait. */
export class RateLimitedError extends J0Error {
  /** Seconds to wait: `retry_after` from the body, else the `Retry-After` header. */
  readonly retryAfter: number | undefined;

  constructor(message: string, options: J0ErrorOptions & { retryAfter?: number | undefined }) {
    super(message, options);
    this.retryAfter = options.retryAfter;
  }
}
/** 500 `INTERNAL_ERROR`. */
export class InternalServerError extends J0Error {}
/** 503 `PAYMENTS_UNAVAILABLE`: Stripe is not configured or not reachable. */
export class PaymentsUnavailableError extends J0Error {}
/** 503 `SERVICE_UNAVAILABLE`: the database is out of reach. */
export class ServiceUnavailableError extends J0Error {}

type ErrorClass = new (message: string, options: J0ErrorOptions) => J0Error;

/** Which class each wire `code` becomes. */
export const ERROR_CLASSES: Readonly<Record<string, ErrorClass>> = {
  UNAUTHORIZED: UnauthorizedError,
  INVALID_SIGNATURE: InvalidSignatureError,
  CHALLENGE_NOT_FOUND: ChallengeNotFoundError,
  CHALLENGE_EXPIRED: ChallengeExpiredError,
  CHALLENGE_USED: ChallengeUsedError,
  OWN_JOB: OwnJobError,
  NOT_THE_WORKER: NotTheWorkerError,
  NOT_THE_REQUESTER: NotTheRequesterError,
  NOT_FOUND: NotFoundError,
  JOB_NOT_FOUND: JobNotFoundError,
  USER_NOT_FOUND: UserNotFoundError,
  VALIDATION_ERROR: ValidationError,
  INSUFFICIENT_CREDITS: InsufficientCreditsError,
  JOB_ALREADY_ACCEPTED: JobAlreadyAcceptedError,
  JOB_EXPIRED: JobExpiredError,
  JOB_NOT_AVAILABLE: JobNotAvailableError,
  JOB_NOT_ACCEPTED: JobNotAcceptedError,
  TIMEOUT_EXPIRED: TimeoutExpiredError,
  TOO_MANY_OPEN_JOBS: TooManyOpenJobsError,
  IDEMPOTENCY_KEY_REUSED: IdempotencyKeyReusedError,
  INVALID_AMOUNT: InvalidAmountError,
  INVALID_WEBHOOK_SIGNATURE: InvalidWebhookSignatureError,
  METHOD_NOT_ALLOWED: MethodNotAllowedError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  UNSUPPORTED_MEDIA_TYPE: UnsupportedMediaTypeError,
  RATE_LIMITED: RateLimitedError,
  INTERNAL_ERROR: InternalServerError,
  PAYMENTS_UNAVAILABLE: PaymentsUnavailableError,
  SERVICE_UNAVAILABLE: ServiceUnavailableError,
};

function parseSeconds(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/**
 * Builds the error for a non-2xx answer. The `{error, code}` envelope picks the class from
 * {@link ERROR_CLASSES}; an unknown code gives a plain {@link J0Error} with that code; a body that
 * is not the envelope gives a plain {@link J0Error} with `code` `undefined`.
 */
export function errorFromResponse(
  status: number,
  body: unknown,
  headers: { get(name: string): string | null },
): J0Error {
  const requestId = headers.get('x-request-id') ?? undefined;
  const envelope =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
  const message = typeof envelope?.['error'] === 'string' ? envelope['error'] : undefined;
  const code = typeof envelope?.['code'] === 'string' ? envelope['code'] : undefined;
  if (message === undefined || code === undefined) {
    const text = typeof body === 'string' && body.length > 0 ? `: ${body.slice(0, 200)}` : '';
    return new J0Error(`HTTP ${status}${text}`, { status, requestId });
  }
  if (code === 'RATE_LIMITED') {
    const retryAfter = parseSeconds(envelope?.['retry_after']) ?? parseSeconds(headers.get('retry-after'));
    return new RateLimitedError(message, { status, code, requestId, retryAfter });
  }
  const ErrorClass = ERROR_CLASSES[code] ?? J0Error;
  return new ErrorClass(message, { status, code, requestId });
}
