import type { J0Client } from './client.js';
import {
  JobAlreadyAcceptedError,
  JobExpiredError,
  JobNotAvailableError,
  TimeoutExpiredError,
  ValidationError,
} from './errors.js';
import { Notifier, codePointLength } from './internal.js';
import type { Capability, Job } from './types.js';

/** What a handler gets besides the job. */
export interface JobContext {
  /** The accepted job's deadline (`expiresAt`). A result is only submitted up to 1 s before it. */
  deadline: Date;
  /** Aborts 1 s before the deadline, or when the worker is stopped. */
  signal: AbortSignal;
}

/**
 * Does one job: returns the result to submit, or `null`/`undefined`/`''` to submit nothing (the
 * job then times out and the requester is refunded).
 */
export type JobHandler = (
  job: Job,
  context: JobContext,
) => Promise<string | null | undefined | void> | string | null | undefined | void;

/** Options of {@link J0Client.work}. */
export interface WorkOptions {
  /** The capabilities to take jobs for (at least one). */
  capabilities: readonly Capability[];
  /** Called with each accepted job, which carries the full prompt. */
  handler: JobHandler;
  /** Skip jobs paying fewer credits than this. */
  minCredits?: number | undefined;
  /** Jobs handled at the same time. Default 1. */
  concurrency?: number | undefined;
  /** Stop after accepting this many jobs (once they are handled). Default: no limit. */
  maxJobs?: number | undefined;
  /** Stop taking jobs when aborted; jobs in hand are finished first. */
  signal?: AbortSignal | undefined;
  /**
   * Receives every error concerning one job (the handler threw, a result over 100,000
   * characters, a refusal other than a lost race) and errors re-listing posted jobs, and the
   * worker goes on. Without it, the first such error stops the worker and `work()` rejects
   * with it.
   */
  onError?: ((error: unknown, job: Job | undefined) => void) | undefined;
}

/** What a {@link J0Client.work} run did. */
export interface WorkSummary {
  /** Jobs this worker accepted. */
  accepted: number;
  /** Jobs whose result was submitted and taken. */
  completed: number;
  /** Cents earned by those results. */
  creditsEarned: number;
}

/** Never submit within this long of the deadline. */
const DEADLINE_MARGIN_MS = 1_000;
/** Forget jobs past their deadline once this many were seen. */
const SEEN_PRUNE_AT = 10_000;
/** The longest result the API takes, in characters. */
const MAX_RESULT_CHARS = 100_000;

/** Posted jobs waiting to be tried, in arrival order. */
class JobQueue {
  readonly #jobs: Job[] = [];
  readonly #changed = new Notifier();

  push(job: Job): void {
    this.#jobs.push(job);
    this.#changed.notify();
  }

  /** The next job; `undefined` when `signal` aborts first. */
  async take(signal: AbortSignal): Promise<Job | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      const job = this.#jobs.shift();
      if (job !== undefined) return job;
      await this.#changed.wait(signal);
    }
  }
}

function isLostRace(error: unknown): boolean {
  return error instanceof JobAlreadyAcceptedError || error instanceof JobExpiredError || error instanceof JobNotAvailableError;
}

function checkOptions(options: WorkOptions): { concurrency: number } {
  const { capabilities, concurrency = 1, maxJobs } = options;
  if (!Array.isArray(capabilities) || capabilities.length === 0) {
    throw new ValidationError('capabilities: name at least one', { status: 0, code: 'VALIDATION_ERROR' });
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ValidationError('concurrency: must be an integer of at least 1', { status: 0, code: 'VALIDATION_ERROR' });
  }
  if (maxJobs !== undefined && (!Number.isInteger(maxJobs) || maxJobs < 1)) {
    throw new ValidationError('maxJobs: must be an integer of at least 1', { status: 0, code: 'VALIDATION_ERROR' });
  }
  return { concurrency };
}

/** The loop behind {@link J0Client.work}. */
export async function runWorker(
  client: J0Client,
  myId: () => Promise<number>,
  options: WorkOptions,
): Promise<WorkSummary> {
  const { concurrency } = checkOptions(options);
  const { capabilities, handler, minCredits, maxJobs, onError } = options;
  const summary: WorkSummary = { accepted: 0, completed: 0, creditsEarned: 0 };
  const callerAborted = (): boolean => options.signal?.aborted === true;
  if (callerAborted()) return summary;

  const me = await myId();
  if (callerAborted()) return summary;
  // `stop` ends everything (the caller's signal, or a fatal error); `stream` also ends the events.
  const stop = new AbortController();
  const stream = new AbortController();
  const onCallerAbort = (): void => stop.abort();
  options.signal?.addEventListener('abort', onCallerAbort, { once: true });
  stop.signal.addEventListener('abort', () => stream.abort(), { once: true });

  let fatal: { error: unknown } | undefined;
  const fail = (error: unknown, job: Job | undefined): void => {
    if (onError !== undefined) {
      onError(error, job);
      return;
    }
    fatal ??= { error };
    stop.abort();
  };

  const queue = new JobQueue();
  // Jobs already offered, with their deadline: a job is never tried twice, and past its deadline
  // it can no longer come back as `posted`, so it is forgotten.
  const seen = new Map<number, number>();
  const offer = (job: Job): void => {
    if (seen.has(job.jobId) || job.status !== 'posted' || !capabilities.includes(job.capability)) return;
    if (seen.size >= SEEN_PRUNE_AT) {
      const now = Date.now();
      for (const [id, expiresAt] of seen) if (expiresAt < now) seen.delete(id);
    }
    seen.set(job.jobId, job.expiresAt.getTime());
    if (job.requesterId === me) return;
    if (minCredits !== undefined && job.credits < minCredits) return;
    queue.push(job);
  };

  // Jobs posted before the socket was (re)opened are not in its stream: list them over REST.
  let refills: Promise<void> = Promise.resolve();
  const refill = (): void => {
    refills = refills.then(async () => {
      try {
        for (const capability of capabilities) {
          for await (const job of client.iterJobs({ status: 'posted', capability })) {
            if (stream.signal.aborted) return;
            offer(job);
          }
        }
      } catch (error) {
        if (!stream.signal.aborted) fail(error, undefined);
      }
    });
  };

  const pump = (async (): Promise<void> => {
    try {
      for await (const event of client.events({ capabilities, signal: stream.signal, onConnect: refill })) {
        if (event.event === 'job.posted') offer(event.data);
        else if (event.event === 'events.truncated') refill();
      }
    } catch (error) {
      // Without its event stream the worker cannot go on, whatever onError says.
      if (!stream.signal.aborted) {
        fatal ??= { error };
        stop.abort();
      }
    }
  })();

  const handle = async (job: Job): Promise<void> => {
    const deadline = job.expiresAt.getTime();
    const jobStop = new AbortController();
    const timer = setTimeout(() => jobStop.abort(), Math.max(0, deadline - DEADLINE_MARGIN_MS - Date.now()));
    const onStop = (): void => jobStop.abort();
    stop.signal.addEventListener('abort', onStop, { once: true });
    let result: string | null | undefined | void;
    try {
      result = await handler(job, { deadline: job.expiresAt, signal: jobStop.signal });
    } catch (error) {
      fail(error, job);
      return;
    } finally {
      clearTimeout(timer);
      stop.signal.removeEventListener('abort', onStop);
    }
    if (result === undefined || result === null || result === '') return;
    if (typeof result !== 'string') {
      fail(new ValidationError(`handler for job #${job.jobId} returned a ${typeof result}, not a string`, { status: 0, code: 'VALIDATION_ERROR' }), job);
      return;
    }
    if (codePointLength(result) > MAX_RESULT_CHARS) {
      fail(
        new ValidationError(`result of job #${job.jobId} is over ${MAX_RESULT_CHARS} characters; not submitted`, {
          status: 0,
          code: 'VALIDATION_ERROR',
        }),
        job,
      );
      return;
    }
    if (Date.now() >= deadline - DEADLINE_MARGIN_MS) return;
    try {
      const done = await client.completeJob(job.jobId, result);
      summary.completed++;
      summary.creditsEarned += done.creditsEarned;
    } catch (error) {
      if (!(error instanceof TimeoutExpiredError)) fail(error, job);
    }
  };

  // Accepts run one at a time (first come, first served); handlers run up to `concurrency` at once.
  const running = new Set<Promise<void>>();
  const slotFreed = new Notifier();
  try {
    while (!stop.signal.aborted && (maxJobs === undefined || summary.accepted < maxJobs)) {
      while (running.size >= concurrency && !stop.signal.aborted) await slotFreed.wait(stop.signal);
      const candidate = await queue.take(stop.signal);
      if (candidate === undefined) break;
      if (candidate.expiresAt.getTime() <= Date.now()) continue;
      let accepted: Job;
      try {
        accepted = await client.acceptJob(candidate.jobId);
      } catch (error) {
        if (!isLostRace(error)) fail(error, candidate);
        continue;
      }
      summary.accepted++;
      const task = handle(accepted).finally(() => {
        running.delete(task);
        slotFreed.notify();
      });
      running.add(task);
    }
    await Promise.all(running);
  } finally {
    options.signal?.removeEventListener('abort', onCallerAbort);
    stream.abort();
    await pump;
    await refills;
  }
  if (fatal !== undefined) throw fatal.error;
  return summary;
}
