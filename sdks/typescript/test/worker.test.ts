/** The worker helper, on a server of its own so it takes no other test's jobs. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ValidationError, type J0Client, type Job } from '../src/index.js';
import { eventually, newClient, postCheap } from './helpers/clients.js';
import { auditLedger, startServer, type ServerHandle } from './helpers/server.js';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer({ J0_SIGNUP_PROMO_CENTS: '1000' });
});
afterAll(async () => {
  const audit = await auditLedger(server);
  await server.stop();
  expect(audit.code, audit.stdout + audit.stderr).toBe(0);
});

/** Cancels whatever `requester` still has in `posted`, so the next test's worker cannot take it. */
async function cancelLeftovers(requester: J0Client): Promise<void> {
  const me = await requester.me();
  for (const job of await requester.listJobs({ requesterId: me.id, status: 'posted' })) await requester.cancelJob(job.jobId);
}

describe('work()', () => {
  it('completes a job another client posts while it runs', { timeout: 20_000 }, async () => {
    const requester = newClient(server);
    const worker = newClient(server);
    const workerUser = await worker.authenticate();
    const running = worker.work({ capabilities: ['opus'], handler: (job) => `done: ${job.prompt}`, maxJobs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const job = await postCheap(requester, 'the prompt');
    const summary = await running;
    expect(summary).toEqual({ accepted: 1, completed: 1, creditsEarned: 9 });
    const finished = await requester.getJob(job.jobId);
    expect(finished).toMatchObject({ status: 'completed', workerId: workerUser.id, result: 'done: the prompt' });
    expect(await worker.getBalance()).toEqual({ cashCents: 9, promoCents: 1000, totalCents: 1009 });
  });

  it('takes jobs posted before it started, with their full prompt, and never its own', { timeout: 20_000 }, async () => {
    const requester = newClient(server);
    const worker = newClient(server);
    const longPrompt = `${'p'.repeat(300)}!`;
    const own = await postCheap(worker, 'my own job');
    const theirs = await requester.postJob({ capability: 'sonnet', credits: 20, timeout: 30, prompt: longPrompt });
    const seen: Job[] = [];
    const summary = await worker.work({
      capabilities: ['opus', 'sonnet'],
      handler: (job) => {
        seen.push(job);
        return 'ok';
      },
      maxJobs: 1,
    });
    expect(summary).toEqual({ accepted: 1, completed: 1, creditsEarned: 18 });
    expect(seen.map((job) => [job.jobId, job.prompt, job.promptTruncated])).toEqual([[theirs.jobId, longPrompt, false]]);
    expect((await worker.getJob(own.jobId)).status).toBe('posted');
    await cancelLeftovers(worker);
  });

  it('skips jobs under minCredits', { timeout: 20_000 }, async () => {
    const requester = newClient(server);
    const worker = newClient(server);
    const cheap = await postCheap(requester, 'cheap', 5);
    const rich = await postCheap(requester, 'rich', 50);
    const taken: number[] = [];
    await worker.work({ capabilities: ['opus'], minCredits: 10, maxJobs: 1, handler: (job) => String(taken.push(job.jobId)) });
    expect(taken).toEqual([rich.jobId]);
    expect((await requester.getJob(cheap.jobId)).status).toBe('posted');
    await cancelLeftovers(requester);
  });

  it('submits nothing when the handler returns nothing, throws, or returns too much', { timeout: 20_000 }, async () => {
    const requester = newClient(server);
    const worker = newClient(server);
    const jobs = [await postCheap(requester, 'nothing'), await postCheap(requester, 'throw'), await postCheap(requester, 'huge')];
    const errors: unknown[] = [];
    const summary = await worker.work({
      capabilities: ['opus'],
      maxJobs: 3,
      concurrency: 3,
      handler: (job) => {
        if (job.prompt === 'throw') throw new Error('handler failed');
        if (job.prompt === 'huge') return 'x'.repeat(100_001);
        return undefined;
      },
      onError: (error) => errors.push(error),
    });
    expect(summary).toEqual({ accepted: 3, completed: 0, creditsEarned: 0 });
    expect(errors).toHaveLength(2);
    expect(errors).toContainEqual(new Error('handler failed'));
    expect(errors.some((error) => error instanceof ValidationError && error.status === 0)).toBe(true);
    for (const job of jobs) expect((await requester.getJob(job.jobId)).status).toBe('accepted');
  });

  it('without onError, a handler that throws stops work() with that error', { timeout: 20_000 }, async () => {
    const requester = newClient(server);
    const worker = newClient(server);
    await postCheap(requester, 'boom');
    const failure = await worker
      .work({
        capabilities: ['opus'],
        handler: () => {
          throw new Error('boom');
        },
      })
      .catch((reason: unknown) => reason);
    expect(failure).toEqual(new Error('boom'));
  });

  it('does not submit within 1 s of the deadline', { timeout: 30_000 }, async () => {
    const requester = newClient(server);
    const worker = newClient(server);
    const job = await postCheap(requester, 'slow', 10, 10);
    let deadline: Date | undefined;
    const summary = await worker.work({
      capabilities: ['opus'],
      maxJobs: 1,
      handler: async (_job, context) => {
        deadline = context.deadline;
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
        return 'too late';
      },
    });
    expect(summary).toEqual({ accepted: 1, completed: 0, creditsEarned: 0 });
    expect(deadline?.getTime()).toBe((await requester.getJob(job.jobId)).expiresAt.getTime());
    // The server times it out and refunds the requester.
    await eventually(async () => (await requester.getJob(job.jobId)).status === 'timeout', 15_000);
    expect((await requester.getBalance()).totalCents).toBe(1000);
  });

  it('ends when its signal aborts', async () => {
    const worker = newClient(server);
    const controller = new AbortController();
    const running = worker.work({ capabilities: ['gpt4'], handler: () => 'never', signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort();
    expect(await running).toEqual({ accepted: 0, completed: 0, creditsEarned: 0 });
  });
});
