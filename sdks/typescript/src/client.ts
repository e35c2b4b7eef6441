import { randomUUID } from 'node:crypto';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';

import {
  APIConnectionError,
  APITimeoutError,
  ChallengeUsedError,
  J0Error,
  JobAlreadyAcceptedError,
  JobNotAcceptedError,
  JobNotAvailableError,
  RateLimitedError,
  UnauthorizedError,
  ValidationError,
  errorFromResponse,
} from './errors.js';
import { eventStream, type EventsOptions, type J0Event, type StreamContext } from './events.js';
import { backoffMs, codePointLength, deriveWsUrl, retryAfterMs, sleep, trimTrailingSlashes } from './internal.js';
import {
  CAPABILITIES,
  toBalance,
  toDepositAddress,
  toJob,
  toPublicUser,
  toTransaction,
  toUser,
  type Balance,
  type CancelledJob,
  type Capability,
  type Checkout,
  type CompletedJob,
  type DepositAddress,
  type Job,
  type JobStatus,
  type PublicUser,
  type Transaction,
  type User,
  type WireBalance,
  type WireChallenge,
  type WireDepositAddress,
  type WireJob,
  type WirePublicUser,
  type WireTransaction,
  type WireUser,
  type WireVerify,
} from './types.js';
import { VERSION } from './version.js';
import { runWorker, type WorkOptions, type WorkSummary } from './worker.js';

/** The production API. */
export const DEFAULT_BASE_URL = 'https://j0.com/api/v1';
/** Extra attempts after a network error, a 5xx or a 429, unless `maxRetries` says otherwise. */
export const DEFAULT_MAX_RETRIES = 2;
/** How long one attempt may take, unless `timeoutMs` says otherwise. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** Re-sign this many seconds before the token's `expires_at`. */
const REFRESH_MARGIN_SEC = 60;
/** Transport error codes that prove the request never left this machine. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Options of {@link J0Client}. Every one is optional. */
export interface J0ClientOptions {
  /**
   * The wallet's private key (`0x` and 64 hex digits). With it the client signs in by itself
   * (on the first call and whenever the token is about to expire or is refused).
   */
  privateKey?: string | undefined;
  /** The API base URL including `/api/v1`. Default: env `J0_BASE_URL`, else `https://j0.com/api/v1`. */
  baseUrl?: string | undefined;
  /** The WebSocket URL. Default: derived from `baseUrl` (`http` → `ws`, `/api/v1` → `/ws`). */
  wsUrl?: string | undefined;
  /** A session token to use (for example one issued elsewhere); with no `privateKey` it is the only credential. */
  token?: string | undefined;
  /** Extra attempts after a network error, a 5xx or a 429. Default 2; `0` turns retries off. */
  maxRetries?: number | undefined;
  /** How long one HTTP attempt (and a WebSocket handshake) may take, in milliseconds. Default 60 000. */
  timeoutMs?: number | undefined;
  /** The `fetch` to use; default the global one. */
  fetch?: typeof fetch | undefined;
}

/** Parameters of {@link J0Client.postJob}. */
export interface PostJobParams {
  /** The model the job needs. */
  capability: Capability;
  /** What the job pays, in cents: an integer from 5 to 100. */
  credits: number;
  /** Seconds the worker has after accepting: an integer from 10 to 60 (`timeout_sec` on the wire). */
  timeout: number;
  /** The prompt: 1 to 10,240 characters. */
  prompt: string;
  /**
   * The `Idempotency-Key` (1–255 characters). A repeat within 24 h returns the first job and
   * posts nothing. Default: a fresh UUID per call, reused by that call's retries.
   */
  idempotencyKey?: string | undefined;
}

/** Filters of {@link J0Client.listJobs}. */
export interface ListJobsParams {
  status?: JobStatus | undefined;
  capability?: Capability | undefined;
  requesterId?: number | undefined;
  workerId?: number | undefined;
  /** Jobs per page: default 50, capped at 100 by the server. */
  limit?: number | undefined;
  /** Only jobs with a smaller id (the last `jobId` of the previous page). */
  before?: number | undefined;
}

/** Filters of {@link J0Client.iterJobs}. */
export interface IterJobsParams extends Omit<ListJobsParams, 'limit'> {
  /** Jobs fetched per request, 1 to 100. Default 100. */
  pageSize?: number | undefined;
}

/** Parameters of {@link J0Client.transactions}. */
export interface TransactionsParams {
  /** Rows per page: default 50, capped at 100 by the server. */
  limit?: number | undefined;
  /** Only rows with a smaller id (the last `id` of the previous page). */
  before?: number | undefined;
}

/** Parameters of {@link J0Client.iterTransactions}. */
export interface IterTransactionsParams {
  /** Rows fetched per request, 1 to 100. Default 100. */
  pageSize?: number | undefined;
  /** Start below this id. */
  before?: number | undefined;
}

/** A call of {@link J0Client.request}. */
export interface RequestOptions {
  /** Query parameters; `undefined` values are left out. */
  query?: Record<string, string | number | boolean | undefined> | undefined;
  /** The body: serialised as JSON, or sent as is when a string. */
  body?: unknown;
  /** Extra headers (they override the SDK's, `Content-Type` included). */
  headers?: Record<string, string> | undefined;
  /** Send the session token (signing in first if needed). Default `true`. */
  auth?: boolean | undefined;
}

interface RequestSpec extends RequestOptions {
  method: string;
  path: string;
  /** On a 401, do not sign in again and retry (used by logout). */
  noResign?: boolean;
}

/** What to make of a refusal that answered a retry after an earlier attempt's answer was lost. */
type Recover<T> = (error: J0Error) => Promise<T | undefined>;

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new ValidationError(`${name} must be a non-negative integer`, { status: 0, code: 'VALIDATION_ERROR' });
  }
  return value;
}

function normalisePrivateKey(key: string): `0x${string}` {
  const hex = key.startsWith('0x') || key.startsWith('0X') ? key.slice(2) : key;
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new ValidationError('privateKey must be 32 bytes of hex (0x and 64 hex digits)', {
      status: 0,
      code: 'VALIDATION_ERROR',
    });
  }
  return `0x${hex}`;
}

function localValidation(message: string): ValidationError {
  return new ValidationError(message, { status: 0, code: 'VALIDATION_ERROR' });
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The j0 API client.
 *
 * ```ts
 * const client = new J0Client({ privateKey: process.env.J0_PRIVATE_KEY });
 * await client.authenticate();
 * const job = await client.postJob({ capability: 'opus', credits: 10, timeout: 30, prompt: 'Summarize this...' });
 * ```
 *
 * The constructor makes no request. Results are camelCase objects with `Date` timestamps; every
 * failure is a {@link J0Error}.
 */
export class J0Client {
  /** The API base URL, including `/api/v1`, without a trailing slash. */
  readonly baseUrl: string;
  /** The WebSocket URL of {@link events} and {@link work}. */
  readonly wsUrl: string;
  /** Extra attempts after a network error, a 5xx or a 429. */
  readonly maxRetries: number;
  /** How long one attempt may take, in milliseconds. */
  readonly timeoutMs: number;

  readonly #account: PrivateKeyAccount | undefined;
  readonly #fetch: typeof fetch;
  #token: string | undefined;
  #expiresAt: number | undefined;
  #user: User | undefined;
  #signingIn: Promise<User> | undefined;

  constructor(options: J0ClientOptions = {}) {
    this.baseUrl = trimTrailingSlashes(options.baseUrl ?? process.env['J0_BASE_URL'] ?? DEFAULT_BASE_URL);
    this.wsUrl = options.wsUrl ?? deriveWsUrl(this.baseUrl);
    this.maxRetries = nonNegativeInteger('maxRetries', options.maxRetries, DEFAULT_MAX_RETRIES);
    this.timeoutMs = nonNegativeInteger('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
    this.#account =
      options.privateKey === undefined ? undefined : privateKeyToAccount(normalisePrivateKey(options.privateKey));
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#token = options.token;
  }

  /** The wallet address of `privateKey` (EIP-55), if the client has one. */
  get address(): string | undefined {
    return this.#account?.address;
  }

  /** The current session token, if the client has one. */
  get token(): string | undefined {
    return this.#token;
  }

  // ---------------------------------------------------------------- sign-in

  /**
   * Signs in with the private key: one `POST /auth/challenge`, an EIP-191 `personal_sign` of
   * `message_to_sign`, one `POST /auth/verify`. Stores the token and returns the user. Other
   * calls sign in by themselves when needed, so calling this is optional.
   */
  async authenticate(): Promise<User> {
    if (this.#account === undefined) {
      throw new UnauthorizedError('authenticate() needs a privateKey', { status: 0, code: 'UNAUTHORIZED' });
    }
    return this.#signIn();
  }

  /** Ends the session: the server revokes the token. The next call with a key signs in again. */
  async logout(): Promise<void> {
    if (this.#token === undefined) return;
    try {
      await this.#send({ method: 'POST', path: '/auth/logout', noResign: true });
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
    }
    this.#token = undefined;
    this.#expiresAt = undefined;
    this.#user = undefined;
  }

  #signIn(): Promise<User> {
    this.#signingIn ??= this.#signInOnce().finally(() => {
      this.#signingIn = undefined;
    });
    return this.#signingIn;
  }

  async #signInOnce(): Promise<User> {
    const account = this.#account;
    if (account === undefined) throw new UnauthorizedError('No privateKey to sign in with', { status: 0, code: 'UNAUTHORIZED' });
    // A verify whose answer was lost consumed its challenge: a retry then answers CHALLENGE_USED,
    // and a second round with a new challenge gets the token.
    for (let round = 0; ; round++) {
      const challenge = await this.#send<WireChallenge>({
        method: 'POST',
        path: '/auth/challenge',
        body: { public_key: account.address },
        auth: false,
      });
      const signature = await account.signMessage({ message: challenge.message_to_sign });
      const verified = await this.#send<WireVerify | null>(
        {
          method: 'POST',
          path: '/auth/verify',
          body: { public_key: account.address, challenge_nonce: challenge.challenge.nonce, signature },
          auth: false,
        },
        async (error) => (error instanceof ChallengeUsedError && round === 0 ? null : undefined),
      );
      if (verified === null) continue;
      this.#token = verified.token;
      this.#expiresAt = verified.expires_at;
      this.#user = toUser(verified.user);
      return this.#user;
    }
  }

  /** The token to send, signing in first when there is none or it expires within 60 s. */
  async #bearer(): Promise<string> {
    if (this.#account !== undefined) {
      const now = Date.now() / 1000;
      if (this.#token === undefined || (this.#expiresAt !== undefined && this.#expiresAt - REFRESH_MARGIN_SEC <= now)) {
        await this.#signIn();
      }
    }
    if (this.#token === undefined) {
      throw new UnauthorizedError('No credentials: pass privateKey or token to J0Client', {
        status: 0,
        code: 'UNAUTHORIZED',
      });
    }
    return this.#token;
  }

  /** Signs in again after `stale` was refused, unless another call already replaced it. */
  async #refresh(stale: string): Promise<boolean> {
    if (this.#account === undefined) return false;
    if (this.#token !== stale && this.#token !== undefined) return true;
    await this.#signIn();
    return true;
  }

  /** The signed-in user's id, from the sign-in answer or `GET /users/me`. */
  async #myId(): Promise<number> {
    return (this.#user ?? (await this.me())).id;
  }

  // ---------------------------------------------------------------- transport

  /**
   * Sends any request to the API and returns the parsed JSON answer as the server sent it
   * (snake_case). Goes through the same sign-in, retries and error mapping as every method; use
   * it for routes this SDK does not wrap.
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return this.#send<T>({ ...options, method, path });
  }

  async #send<T>(spec: RequestSpec, recover?: Recover<T>): Promise<T> {
    const auth = spec.auth ?? true;
    let retries = 0;
    let resigned = false;
    let answerLost = false;
    for (;;) {
      const token = auth ? await this.#bearer() : undefined;
      let status: number;
      let body: unknown;
      let headers: Headers;
      try {
        const response = await this.#fetch(this.#url(spec), {
          method: spec.method,
          headers: this.#headers(spec, token),
          body: this.#body(spec) ?? null,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        status = response.status;
        headers = response.headers;
        const text = await response.text();
        body = text;
        if (text.length > 0) {
          try {
            body = JSON.parse(text) as unknown;
          } catch {
            body = text;
          }
        }
      } catch (cause) {
        const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError');
        const notSent = NOT_SENT_CODES.has(errorCode(cause) ?? '');
        if (!notSent) answerLost = true;
        if (retries < this.maxRetries) {
          await sleep(backoffMs(retries++));
          continue;
        }
        const where = `${spec.method} ${this.baseUrl}${spec.path}`;
        throw timedOut
          ? new APITimeoutError(`${where}: no answer within ${this.timeoutMs} ms`, cause)
          : new APIConnectionError(`${where}: ${cause instanceof Error ? cause.message : String(cause)}`, cause);
      }
      if (status >= 200 && status < 300) {
        if (typeof body === 'string') {
          throw new J0Error(`Expected JSON from ${spec.method} ${spec.path}, got: ${body.slice(0, 200)}`, { status });
        }
        return body as T;
      }
      const error = errorFromResponse(status, body, headers);
      if (
        error instanceof UnauthorizedError &&
        auth &&
        token !== undefined &&
        !resigned &&
        spec.noResign !== true &&
        (await this.#refresh(token))
      ) {
        resigned = true;
        continue;
      }
      if ((status === 429 || status >= 500) && retries < this.maxRetries) {
        const wait =
          error instanceof RateLimitedError && error.retryAfter !== undefined
            ? retryAfterMs(error.retryAfter)
            : backoffMs(retries);
        retries++;
        await sleep(wait);
        continue;
      }
      if (answerLost && recover !== undefined) {
        const recovered = await recover(error);
        if (recovered !== undefined) return recovered;
      }
      throw error;
    }
  }

  #url(spec: RequestSpec): string {
    const url = new URL(`${this.baseUrl}${spec.path}`);
    for (const [name, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  #headers(spec: RequestSpec, token: string | undefined): Record<string, string> {
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': `j0-sdk-typescript/${VERSION}`,
    };
    if (spec.body !== undefined) headers['Content-Type'] = 'application/json';
    if (token !== undefined) headers['Authorization'] = `Bearer ${token}`;
    return { ...headers, ...spec.headers };
  }

  #body(spec: RequestSpec): string | undefined {
    if (spec.body === undefined) return undefined;
    return typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body);
  }

  // ---------------------------------------------------------------- users and credits

  /** The signed-in user (`GET /users/me`). */
  async me(): Promise<User> {
    this.#user = toUser(await this.#send<WireUser>({ method: 'GET', path: '/users/me' }));
    return this.#user;
  }

  /** Public information about any user (`GET /users/:id`, no sign-in needed). */
  async user(id: number): Promise<PublicUser> {
    return toPublicUser(await this.#send<WirePublicUser>({ method: 'GET', path: `/users/${id}`, auth: false }));
  }

  /** The caller's balance in cents (`GET /credits/balance`). */
  async getBalance(): Promise<Balance> {
    return toBalance(await this.#send<WireBalance>({ method: 'GET', path: '/credits/balance' }));
  }

  /** One page of the caller's credit history, newest first (`GET /credits/transactions`). */
  async transactions(params: TransactionsParams = {}): Promise<Transaction[]> {
    const answer = await this.#send<{ transactions: WireTransaction[] }>({
      method: 'GET',
      path: '/credits/transactions',
      query: { limit: params.limit, before: params.before },
    });
    return answer.transactions.map(toTransaction);
  }

  /** Every row of the caller's credit history, newest first, fetched page by page. */
  async *iterTransactions(params: IterTransactionsParams = {}): AsyncGenerator<Transaction, void, undefined> {
    const pageSize = Math.min(params.pageSize ?? 100, 100);
    let before = params.before;
    for (;;) {
      const page = await this.transactions({ limit: pageSize, before });
      yield* page;
      const last = page.at(-1);
      if (last === undefined || page.length < pageSize) return;
      before = last.id;
    }
  }

  /**
   * Starts a Stripe card purchase of credits (`POST /payments/stripe/checkout`). `amountUsd` is
   * one of 5, 10, 20, 50, 100 (others are refused with `InvalidAmountError`); once paid it
   * credits `amountUsd * 95` cents of cash. Send the user to the returned `checkoutUrl`.
   */
  async buyCredits(amountUsd: number): Promise<Checkout> {
    const answer = await this.#send<{ checkout_url: string }>({
      method: 'POST',
      path: '/payments/stripe/checkout',
      body: { amount_usd: amountUsd },
    });
    return { checkoutUrl: answer.checkout_url };
  }

  /** The caller's own USDC deposit address on Base (`GET /payments/usdc/address`). */
  async depositAddress(): Promise<DepositAddress> {
    return toDepositAddress(await this.#send<WireDepositAddress>({ method: 'GET', path: '/payments/usdc/address' }));
  }

  // ---------------------------------------------------------------- jobs

  /**
   * Posts a job; its credits move into escrow. The arguments are checked before sending
   * (a {@link ValidationError} with `status` 0). Always sends an `Idempotency-Key`, the same on
   * every retry of this call, so a retried post never posts twice.
   */
  async postJob(params: PostJobParams): Promise<Job> {
    const { capability, credits, timeout, prompt, idempotencyKey = randomUUID() } = params;
    if (!CAPABILITIES.includes(capability)) {
      throw localValidation(`capability: must be one of ${CAPABILITIES.join(', ')}`);
    }
    if (!Number.isInteger(credits) || credits < 5 || credits > 100) {
      throw localValidation('credits: must be an integer from 5 to 100');
    }
    if (!Number.isInteger(timeout) || timeout < 10 || timeout > 60) {
      throw localValidation('timeout: must be an integer from 10 to 60 seconds');
    }
    if (typeof prompt !== 'string' || prompt.length === 0 || codePointLength(prompt) > 10_240) {
      throw localValidation('prompt: must be 1 to 10,240 characters');
    }
    if (prompt.includes('\u0000')) throw localValidation('prompt: must not contain NUL');
    if (idempotencyKey.length === 0 || idempotencyKey.length > 255) {
      throw localValidation('idempotencyKey: must be 1 to 255 characters');
    }
    const answer = await this.#send<{ job: WireJob }>({
      method: 'POST',
      path: '/jobs',
      body: { capability, credits, timeout_sec: timeout, prompt },
      headers: { 'Idempotency-Key': idempotencyKey },
    });
    return toJob(answer.job);
  }

  /** One page of jobs, newest first (`GET /jobs`). Workers typically pass `status: 'posted'`. */
  async listJobs(params: ListJobsParams = {}): Promise<Job[]> {
    const answer = await this.#send<{ jobs: WireJob[] }>({
      method: 'GET',
      path: '/jobs',
      query: {
        status: params.status,
        capability: params.capability,
        requester_id: params.requesterId,
        worker_id: params.workerId,
        limit: params.limit,
        before: params.before,
      },
    });
    return answer.jobs.map(toJob);
  }

  /** Every job matching the filters, newest first, fetched page by page. */
  async *iterJobs(params: IterJobsParams = {}): AsyncGenerator<Job, void, undefined> {
    const { pageSize: requested, before: start, ...filters } = params;
    const pageSize = Math.min(requested ?? 100, 100);
    let before = start;
    for (;;) {
      const page = await this.listJobs({ ...filters, limit: pageSize, before });
      yield* page;
      const last = page.at(-1);
      if (last === undefined || page.length < pageSize) return;
      before = last.jobId;
    }
  }

  /** One job (`GET /jobs/:id`). The full prompt is shown to its requester and accepted worker only. */
  async getJob(id: number): Promise<Job> {
    return toJob(await this.#getWireJob(id));
  }

  #getWireJob(id: number): Promise<WireJob> {
    return this.#send<WireJob>({ method: 'GET', path: `/jobs/${id}` });
  }

  /**
   * Accepts a job; the first accept wins. The answer carries the full prompt and the deadline
   * (`expiresAt`). If an earlier attempt of this call was lost and the retry answers
   * `JOB_ALREADY_ACCEPTED`, the job is read back and returned when the caller is its worker.
   */
  async acceptJob(id: number): Promise<Job> {
    const answer = await this.#send<{ job: WireJob }>({ method: 'POST', path: `/jobs/${id}/accept` }, async (error) => {
      if (!(error instanceof JobAlreadyAcceptedError)) return undefined;
      const job = await this.#getWireJob(id);
      return job.worker_id === (await this.#myId()) ? { job } : undefined;
    });
    return toJob(answer.job);
  }

  /**
   * Submits the result of an accepted job (1 to 100,000 characters) and returns the job with what
   * it earned. If an earlier attempt was lost and the retry answers `JOB_NOT_ACCEPTED`, a job
   * completed by the caller is returned as the success (`creditsEarned` = floor(credits·9/10)).
   */
  async completeJob(id: number, result: string): Promise<CompletedJob> {
    const answer = await this.#send<{ job: WireJob; credits_earned: number }>(
      { method: 'POST', path: `/jobs/${id}/complete`, body: { result } },
      async (error) => {
        if (!(error instanceof JobNotAcceptedError)) return undefined;
        const job = await this.#getWireJob(id);
        if (job.status !== 'completed' || job.worker_id !== (await this.#myId())) return undefined;
        return { job, credits_earned: Math.floor((job.credits * 9) / 10) };
      },
    );
    return { job: toJob(answer.job), creditsEarned: answer.credits_earned };
  }

  /**
   * Cancels a job that nobody accepted yet; the credits go back to the requester. If an earlier
   * attempt was lost and the retry answers `JOB_NOT_AVAILABLE`, a job cancelled by the caller is
   * returned as the success (`creditsRefunded` = credits).
   */
  async cancelJob(id: number): Promise<CancelledJob> {
    const answer = await this.#send<{ job: WireJob; credits_refunded: number }>(
      { method: 'POST', path: `/jobs/${id}/cancel` },
      async (error) => {
        if (!(error instanceof JobNotAvailableError)) return undefined;
        const job = await this.#getWireJob(id);
        if (job.status !== 'cancelled' || job.requester_id !== (await this.#myId())) return undefined;
        return { job, credits_refunded: job.credits };
      },
    );
    return { job: toJob(answer.job), creditsRefunded: answer.credits_refunded };
  }

  // ---------------------------------------------------------------- real time

  /**
   * The real-time event stream over the WebSocket, as an async iterable:
   *
   * ```ts
   * for await (const e of client.events({ capabilities: ['opus'] })) {
   *   if (e.event === 'job.completed') console.log(e.data.result);
   * }
   * ```
   *
   * It reconnects by itself (with backoff, signing in again if needed) and resumes with
   * `?since=<last id seen>`, dropping any event already seen. `events.truncated` means events
   * were missed: resync over REST. End it with `break` or `signal`.
   */
  events(options: EventsOptions = {}): AsyncGenerator<J0Event, void, undefined> {
    const context: StreamContext = {
      wsUrl: this.wsUrl,
      maxRetries: this.maxRetries,
      timeoutMs: this.timeoutMs,
      userAgent: `j0-sdk-typescript/${VERSION}`,
      token: () => this.#bearer(),
      refresh: (stale) => this.#refresh(stale),
    };
    return eventStream(context, options);
  }

  /**
   * Runs a worker until `maxJobs` jobs were handled or `signal` aborts: takes posted jobs of
   * `capabilities` (already posted ones, then live `job.posted` events), accepts them, calls
   * `handler` with the full job and submits what it returns before the deadline.
   * See {@link WorkOptions} for the rules.
   */
  async work(options: WorkOptions): Promise<WorkSummary> {
    return runWorker(this, () => this.#myId(), options);
  }
}
