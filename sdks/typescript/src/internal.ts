/** Small helpers shared by the client, the event stream and the worker. Not exported publicly. */

/** First delay of the exponential backoff, in milliseconds. */
const BACKOFF_BASE_MS = 500;
/** Longest delay of the exponential backoff, in milliseconds. */
const BACKOFF_CAP_MS = 8_000;

/** Full-jitter exponential backoff: a random delay in [0, min(cap, base · 2^attempt)). */
export function backoffMs(attempt: number): number {
  return Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

/** The wait after a 429: the server's `retry_after` seconds plus up to 250 ms of jitter. */
export function retryAfterMs(retryAfterSec: number): number {
  return retryAfterSec * 1000 + Math.random() * 250;
}

/** Resolves after `ms` milliseconds, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Length in Unicode scalar values, the unit the API's field limits count in. */
export function codePointLength(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Strips trailing slashes so paths can be appended with a leading `/`. */
export function trimTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * The WebSocket URL for a base URL: `http` → `ws`, `https` → `wss`, and a trailing `/api/v1`
 * replaced by `/ws` (`http://127.0.0.1:8080/api/v1` → `ws://127.0.0.1:8080/ws`). A base URL
 * without `/api/v1` gets `/ws` appended to its path.
 */
export function deriveWsUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol === 'http:') url.protocol = 'ws:';
  const path = trimTrailingSlashes(url.pathname);
  url.pathname = path.endsWith('/api/v1') ? `${path.slice(0, -'/api/v1'.length)}/ws` : `${path}/ws`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** Wakes every waiter when {@link Notifier.notify} is called; used to wait for a state change. */
export class Notifier {
  private waiters: (() => void)[] = [];

  /** Resolves on the next {@link notify}, or when `signal` aborts. */
  wait(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve();
        return;
      }
      const wake = (): void => {
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      this.waiters.push(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  /** Wakes everyone waiting now. */
  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
