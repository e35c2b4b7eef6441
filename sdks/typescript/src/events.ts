import WebSocket from 'ws';

import { APIConnectionError, APITimeoutError, J0Error, RateLimitedError, UnauthorizedError, ValidationError, errorFromResponse } from './errors.js';
import { backoffMs, retryAfterMs, sleep } from './internal.js';
import {
  toBalance,
  toEarnedJob,
  toJob,
  type Balance,
  type Capability,
  type EarnedJob,
  type Job,
  type WireBalance,
  type WireJob,
} from './types.js';

/** Options of {@link J0Client.events}. */
export interface EventsOptions {
  /**
   * Receive `job.posted` only for these capabilities (sent as a subscription after every
   * connect). Default: all. Other events are never filtered.
   */
  capabilities?: readonly Capability[] | undefined;
  /** Start with every event after this id (a replay), then live ones. */
  since?: number | undefined;
  /** Ends the stream (and closes the socket) when aborted. */
  signal?: AbortSignal | undefined;
  /**
   * Called after every (re)connect, once the server confirmed the subscription (at once when
   * there are no `capabilities`). A place to resync over REST what happened while offline.
   */
  onConnect?: (() => void) | undefined;
}

interface StoredEvent<Name extends string, Data> {
  /** The event's delivery id: it increases, and it is what `since` resumes from. */
  id: number;
  event: Name;
  data: Data;
  timestamp: Date;
}

/** A new job (to every client, narrowed by the subscription), as a non-participant sees it. */
export type JobPostedEvent = StoredEvent<'job.posted', Job>;
/** To the requester: their job was accepted. */
export type JobAcceptedEvent = StoredEvent<'job.accepted', Job>;
/** To the requester (with the result) and the worker (with `creditsEarned`). */
export type JobCompletedEvent = StoredEvent<'job.completed', EarnedJob>;
/** To the requester and the worker, if any: the job timed out and was refunded. */
export type JobTimeoutEvent = StoredEvent<'job.timeout', Job>;
/** To the user whose balance changed. */
export type BalanceUpdatedEvent = StoredEvent<'balance.updated', Balance>;
/**
 * Events after `since` were pruned before they could be replayed: resync over REST. It has no
 * `id` of its own.
 */
export interface EventsTruncatedEvent {
  event: 'events.truncated';
  data: {
    /** The resume point that was asked for. */
    since: number;
    /** The oldest event id still kept, if any. */
    oldestId: number | null;
  };
}

/** Everything {@link J0Client.events} yields, discriminated by `event`. */
export type J0Event =
  | JobPostedEvent
  | JobAcceptedEvent
  | JobCompletedEvent
  | JobTimeoutEvent
  | BalanceUpdatedEvent
  | EventsTruncatedEvent;

/** What the stream needs from the client. */
export interface StreamContext {
  wsUrl: string;
  maxRetries: number;
  timeoutMs: number;
  userAgent: string;
  /** The token to connect with, signing in first if needed. */
  token(): Promise<string>;
  /** Signs in again after `stale` was refused; `false` when the client cannot. */
  refresh(stale: string): Promise<boolean>;
}

/** Send a ping after this long without hearing from the server. */
const PING_AFTER_MS = 30_000;
/** Give the connection up after this long without hearing from the server. */
const DEAD_AFTER_MS = 65_000;

interface RawMessage {
  id?: unknown;
  event?: unknown;
  data?: unknown;
  timestamp?: unknown;
}

/** One open WebSocket, read message by message. */
class Connection {
  readonly #ws: WebSocket;
  readonly #queue: string[] = [];
  #wake: (() => void) | undefined;
  /** The server side ended: what is queued is still read. */
  #ended = false;
  /** {@link close} was called: nothing more is read. */
  #closed = false;
  #heardAt = Date.now();
  readonly #heartbeat: NodeJS.Timeout;

  constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (data: WebSocket.RawData) => {
      this.#heard();
      this.#queue.push(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'));
      this.#notify();
    });
    ws.on('ping', () => this.#heard());
    ws.on('pong', () => this.#heard());
    ws.on('close', () => {
      this.#ended = true;
      this.#notify();
    });
    ws.on('error', () => {
      this.#ended = true;
      this.#notify();
    });
    this.#heartbeat = setInterval(() => {
      const silent = Date.now() - this.#heardAt;
      if (silent >= DEAD_AFTER_MS) ws.terminate();
      else if (silent >= PING_AFTER_MS && ws.readyState === WebSocket.OPEN) ws.ping();
    }, PING_AFTER_MS / 3);
    this.#heartbeat.unref();
  }

  #heard(): void {
    this.#heardAt = Date.now();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  send(message: unknown): void {
    this.#ws.send(JSON.stringify(message));
  }

  /** The next message; `undefined` once the socket ended and its messages were read, or after {@link close}. */
  async next(): Promise<string | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const message = this.#queue.shift();
      if (message !== undefined) return message;
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Closes the socket; a pending {@link next} resolves `undefined` at once. */
  close(): void {
    clearInterval(this.#heartbeat);
    this.#closed = true;
    this.#notify();
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(1000);
      setTimeout(() => this.#ws.terminate(), 1_000).unref();
    }
  }
}

function withSince(url: string, since: number | undefined): string {
  if (since === undefined) return url;
  const parsed = new URL(url);
  parsed.searchParams.set('since', String(since));
  return parsed.toString();
}

/** Opens one socket; a refusal before the upgrade becomes the matching {@link J0Error}. */
function connect(
  ctx: StreamContext,
  token: string,
  since: number | undefined,
  signal: AbortSignal | undefined,
): Promise<Connection> {
  return new Promise((resolve, reject: (error: J0Error) => void) => {
    const url = withSince(ctx.wsUrl, since);
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${token}`, 'User-Agent': ctx.userAgent },
      handshakeTimeout: ctx.timeoutMs,
    });
    let refused = false;
    const onAbort = (): void => ws.terminate();
    signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (error: J0Error): void => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    };
    ws.once('open', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(new Connection(ws));
    });
    ws.once('unexpected-response', (_request, response) => {
      refused = true;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          body = text;
        }
        const headers = {
          get: (name: string): string | null => {
            const value = response.headers[name.toLowerCase()];
            return value === undefined ? null : Array.isArray(value) ? (value[0] ?? null) : value;
          },
        };
        fail(errorFromResponse(response.statusCode ?? 0, body, headers));
        ws.terminate();
      });
      response.on('error', (cause: Error) => fail(new APIConnectionError(`${url}: ${cause.message}`, cause)));
    });
    ws.on('error', (cause: Error) => {
      if (refused) return;
      fail(
        /timed out/i.test(cause.message)
          ? new APITimeoutError(`${url}: no handshake within ${ctx.timeoutMs} ms`, cause)
          : new APIConnectionError(`${url}: ${cause.message}`, cause),
      );
    });
  });
}

function isTransient(error: unknown): boolean {
  return error instanceof APIConnectionError || (error instanceof J0Error && (error.status === 429 || error.status >= 500));
}

function parseEvent(raw: RawMessage): J0Event | undefined {
  const { id, event, data, timestamp } = raw;
  if (event === 'events.truncated') {
    const truncated = data as { since: number; oldest_id: number | null };
    return { event, data: { since: truncated.since, oldestId: truncated.oldest_id } };
  }
  if (typeof id !== 'number' || typeof timestamp !== 'string') return undefined;
  const at = new Date(timestamp);
  switch (event) {
    case 'job.posted':
    case 'job.accepted':
    case 'job.timeout':
      return { id, event, data: toJob(data as WireJob), timestamp: at };
    case 'job.completed':
      return { id, event, data: toEarnedJob(data as WireJob), timestamp: at };
    case 'balance.updated':
      return { id, event, data: toBalance(data as WireBalance), timestamp: at };
    default:
      return undefined;
  }
}

/**
 * The event stream behind {@link J0Client.events}.
 *
 * The first connection gives up after `maxRetries` failed attempts; once connected, the stream
 * reconnects for as long as it is read. A refusal that retrying cannot fix (a 401 after signing
 * in again, a 4xx) ends it with that error.
 */
export async function* eventStream(
  ctx: StreamContext,
  options: EventsOptions,
): AsyncGenerator<J0Event, void, undefined> {
  const { signal, onConnect } = options;
  const capabilities = options.capabilities === undefined ? undefined : [...options.capabilities];
  let lastId = options.since;
  let everConnected = false;
  let failures = 0;
  let resigned = false;
  const aborted = (): boolean => signal?.aborted === true;
  while (!aborted()) {
    let connection: Connection;
    let token: string | undefined;
    try {
      token = await ctx.token();
      connection = await connect(ctx, token, lastId, signal);
    } catch (error) {
      if (aborted()) return;
      if (error instanceof UnauthorizedError && token !== undefined && !resigned && (await ctx.refresh(token))) {
        resigned = true;
        continue;
      }
      if (!isTransient(error) || (!everConnected && failures >= ctx.maxRetries)) throw error;
      const wait =
        error instanceof RateLimitedError && error.retryAfter !== undefined
          ? retryAfterMs(error.retryAfter)
          : backoffMs(failures);
      failures++;
      await sleep(wait, signal);
      continue;
    }
    everConnected = true;
    resigned = false;
    if (aborted()) {
      connection.close();
      return;
    }
    const onAbort = (): void => connection.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (capabilities !== undefined) connection.send({ action: 'subscribe', capabilities });
      else onConnect?.();
      for (;;) {
        const text = await connection.next();
        if (text === undefined) break;
        failures = 0;
        let raw: RawMessage | null;
        try {
          raw = JSON.parse(text) as RawMessage | null;
        } catch {
          continue;
        }
        if (typeof raw !== 'object' || raw === null) continue;
        if (raw.event === 'subscribed') {
          onConnect?.();
          continue;
        }
        if (raw.event === 'error') {
          const data = (raw.data ?? {}) as { code?: string; error?: string };
          throw new ValidationError(data.error ?? 'The server refused the subscription', {
            status: 400,
            code: data.code ?? 'VALIDATION_ERROR',
          });
        }
        if (typeof raw.id === 'number') {
          if (lastId !== undefined && raw.id <= lastId) continue;
          lastId = raw.id;
        }
        const event = parseEvent(raw);
        if (event === undefined) continue;
        if (
          event.event === 'job.posted' &&
          capabilities !== undefined &&
          capabilities.length > 0 &&
          !capabilities.includes(event.data.capability)
        ) {
          continue;
        }
        yield event;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      connection.close();
    }
    if (aborted()) return;
    await sleep(backoffMs(failures++), signal);
  }
}
