/** What needs no server: the error table, URL derivation, and that the constructor stays offline. */
import { describe, expect, it, vi } from 'vitest';

import {
  AuthenticationError,
  BadRequestError,
  ChallengeExpiredError,
  InsufficientCreditsError,
  InternalServerError,
  J0Client,
  J0Error,
  NotFoundError,
  PermissionDeniedError,
  RateLimitedError,
  ValidationError,
} from '../src/index.js';
import * as sdk from '../src/index.js';
import { ERROR_CLASSES, errorFromResponse } from '../src/errors.js';
import { deriveWsUrl } from '../src/internal.js';

const noHeaders = { get: (): string | null => null };

/** Every code of the API and the class it must become, with the group it belongs to. */
const TABLE: [string, number, string, (new (...args: never[]) => J0Error) | undefined][] = [
  ['UNAUTHORIZED', 401, 'UnauthorizedError', AuthenticationError],
  ['INVALID_SIGNATURE', 401, 'InvalidSignatureError', AuthenticationError],
  ['CHALLENGE_NOT_FOUND', 401, 'ChallengeNotFoundError', AuthenticationError],
  ['CHALLENGE_EXPIRED', 401, 'ChallengeExpiredError', AuthenticationError],
  ['CHALLENGE_USED', 401, 'ChallengeUsedError', AuthenticationError],
  ['OWN_JOB', 403, 'OwnJobError', PermissionDeniedError],
  ['NOT_THE_WORKER', 403, 'NotTheWorkerError', PermissionDeniedError],
  ['NOT_THE_REQUESTER', 403, 'NotTheRequesterError', PermissionDeniedError],
  ['NOT_FOUND', 404, 'NotFoundError', NotFoundError],
  ['JOB_NOT_FOUND', 404, 'JobNotFoundError', NotFoundError],
  ['USER_NOT_FOUND', 404, 'UserNotFoundError', NotFoundError],
  ['VALIDATION_ERROR', 400, 'ValidationError', BadRequestError],
  ['INSUFFICIENT_CREDITS', 400, 'InsufficientCreditsError', BadRequestError],
  ['JOB_ALREADY_ACCEPTED', 400, 'JobAlreadyAcceptedError', BadRequestError],
  ['JOB_EXPIRED', 400, 'JobExpiredError', BadRequestError],
  ['JOB_NOT_AVAILABLE', 400, 'JobNotAvailableError', BadRequestError],
  ['JOB_NOT_ACCEPTED', 400, 'JobNotAcceptedError', BadRequestError],
  ['TIMEOUT_EXPIRED', 400, 'TimeoutExpiredError', BadRequestError],
  ['TOO_MANY_OPEN_JOBS', 400, 'TooManyOpenJobsError', BadRequestError],
  ['IDEMPOTENCY_KEY_REUSED', 400, 'IdempotencyKeyReusedError', BadRequestError],
  ['INVALID_AMOUNT', 400, 'InvalidAmountError', BadRequestError],
  ['INVALID_WEBHOOK_SIGNATURE', 400, 'InvalidWebhookSignatureError', BadRequestError],
  ['METHOD_NOT_ALLOWED', 405, 'MethodNotAllowedError', undefined],
  ['PAYLOAD_TOO_LARGE', 413, 'PayloadTooLargeError', undefined],
  ['UNSUPPORTED_MEDIA_TYPE', 415, 'UnsupportedMediaTypeError', undefined],
  ['RATE_LIMITED', 429, 'RateLimitedError', undefined],
  ['INTERNAL_ERROR', 500, 'InternalServerError', undefined],
  ['PAYMENTS_UNAVAILABLE', 503, 'PaymentsUnavailableError', undefined],
  ['SERVICE_UNAVAILABLE', 503, 'ServiceUnavailableError', undefined],
];

describe('error mapping', () => {
  it.each(TABLE)('%s (%i) becomes %s', (code, status, className, group) => {
    const error = errorFromResponse(status, { error: 'message from the server', code }, noHeaders);
    const exported = (sdk as unknown as Record<string, unknown>)[className];
    expect(exported, `${className} is exported from the package root`).toBeTypeOf('function');
    expect(error).toBeInstanceOf(exported as new () => unknown);
    expect(error).toBeInstanceOf(J0Error);
    expect(error).toBeInstanceOf(Error);
    if (group !== undefined) expect(error).toBeInstanceOf(group);
    expect(error.name).toBe(className);
    expect(error.status).toBe(status);
    expect(error.code).toBe(code);
    expect(error.message).toBe('message from the server');
  });

  it('covers every code of the table and no other', () => {
    expect(Object.keys(ERROR_CLASSES).sort()).toEqual(TABLE.map(([code]) => code).sort());
  });

  it('keeps the groups apart', () => {
    const expired = errorFromResponse(401, { error: 'x', code: 'CHALLENGE_EXPIRED' }, noHeaders);
    expect(expired).toBeInstanceOf(ChallengeExpiredError);
    expect(expired).not.toBeInstanceOf(PermissionDeniedError);
    expect(expired).not.toBeInstanceOf(BadRequestError);
    const internal = errorFromResponse(500, { error: 'Internal server error', code: 'INTERNAL_ERROR' }, noHeaders);
    expect(internal).toBeInstanceOf(InternalServerError);
    expect(internal).not.toBeInstanceOf(BadRequestError);
  });

  it('gives an unknown code the base class with its status, code and message', () => {
    const error = errorFromResponse(418, { error: 'I am a teapot', code: 'TEAPOT' }, noHeaders);
    expect(error.constructor).toBe(J0Error);
    expect([error.status, error.code, error.message]).toEqual([418, 'TEAPOT', 'I am a teapot']);
  });

  it('gives a body that is not the envelope the base class with no code', () => {
    const error = errorFromResponse(502, '<html>Bad Gateway</html>', noHeaders);
    expect(error.constructor).toBe(J0Error);
    expect(error.status).toBe(502);
    expect(error.code).toBeUndefined();
    expect(error.message).toContain('Bad Gateway');
  });

  it('parses have and need from the insufficient-credits message', () => {
    const error = errorFromResponse(400, { error: 'Insufficient credits: have 5, need 10', code: 'INSUFFICIENT_CREDITS' }, noHeaders);
    expect(error).toBeInstanceOf(InsufficientCreditsError);
    expect([(error as InsufficientCreditsError).have, (error as InsufficientCreditsError).need]).toEqual([5, 10]);
  });

  it('takes retry_after from the body, else from the Retry-After header', () => {
    const fromBody = errorFromResponse(429, { error: 'Rate limit exceeded', code: 'RATE_LIMITED', retry_after: 7 }, noHeaders);
    expect((fromBody as RateLimitedError).retryAfter).toBe(7);
    const headers = { get: (name: string): string | null => (name === 'retry-after' ? '3' : null) };
    const fromHeader = errorFromResponse(429, { error: 'Rate limit exceeded', code: 'RATE_LIMITED' }, headers);
    expect((fromHeader as RateLimitedError).retryAfter).toBe(3);
  });

  it('keeps the request id of the answer', () => {
    const headers = { get: (name: string): string | null => (name === 'x-request-id' ? 'req-1' : null) };
    expect(errorFromResponse(404, { error: 'Job not found', code: 'JOB_NOT_FOUND' }, headers).requestId).toBe('req-1');
  });
});

describe('URLs', () => {
  it.each([
    ['http://127.0.0.1:8080/api/v1', 'ws://127.0.0.1:8080/ws'],
    ['http://127.0.0.1:8080/api/v1/', 'ws://127.0.0.1:8080/ws'],
    ['https://j0.com/api/v1', 'wss://j0.com/ws'],
    ['https://example.com/j0/api/v1', 'wss://example.com/j0/ws'],
    ['http://localhost:9000', 'ws://localhost:9000/ws'],
  ])('%s → %s', (base, ws) => {
    expect(deriveWsUrl(base)).toBe(ws);
  });

  it('takes the base URL from the option, else J0_BASE_URL, else production', () => {
    const saved = process.env['J0_BASE_URL'];
    try {
      delete process.env['J0_BASE_URL'];
      expect(new J0Client().baseUrl).toBe('https://j0.com/api/v1');
      expect(new J0Client().wsUrl).toBe('wss://j0.com/ws');
      process.env['J0_BASE_URL'] = 'http://127.0.0.1:1234/api/v1/';
      expect(new J0Client().baseUrl).toBe('http://127.0.0.1:1234/api/v1');
      expect(new J0Client().wsUrl).toBe('ws://127.0.0.1:1234/ws');
      expect(new J0Client({ baseUrl: 'http://10.0.0.1/api/v1' }).baseUrl).toBe('http://10.0.0.1/api/v1');
      expect(new J0Client({ wsUrl: 'ws://elsewhere/ws' }).wsUrl).toBe('ws://elsewhere/ws');
    } finally {
      if (saved === undefined) delete process.env['J0_BASE_URL'];
      else process.env['J0_BASE_URL'] = saved;
    }
  });
});

describe('constructor', () => {
  it('makes no request', () => {
    const spy = vi.fn<typeof fetch>();
    const client = new J0Client({
      privateKey: '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318',
      baseUrl: 'http://127.0.0.1:1/api/v1',
      fetch: spy,
    });
    expect(client.address).toBe('0x2c7536E3605D9C16a7a3D7b1898e529396a65c23');
    expect(client.token).toBeUndefined();
    expect(spy).not.toHaveBeenCalled();
  });

  it('refuses a malformed private key before anything is sent', () => {
    expect(() => new J0Client({ privateKey: '0x1234' })).toThrow(ValidationError);
  });
});
