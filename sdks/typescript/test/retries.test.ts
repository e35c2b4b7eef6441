/** Retries: 429s waited out or raised, and answers lost on the way back that must not act twice. */
import { describe, expect, it } from 'vitest';

import { JobAlreadyAcceptedError, RateLimitedError, type J0Client } from '../src/index.js';
import { auditAfterAll, newClient, postCheap, servers } from './helpers/clients.js';
import { FaultProxy } from './helpers/proxy.js';

const { main, limited } = servers();
auditAfterAll(main, limited);

/** Spends the user's whole per-minute budget with raw requests, until the server answers 429. */
async function burnBudget(client: J0Client): Promise<void> {
  await client.authenticate();
  for (let i = 0; i < 200; i++) {
    const response = await fetch(`${limited.baseUrl}/credits/balance`, { headers: { Authorization: `Bearer ${client.token}` } });
    await response.arrayBuffer();
    if (response.status === 429) return;
  }
  throw new Error('the rate limit never answered 429');
}

function statusRecorder(): { fetch: typeof fetch; statuses: number[] } {
  const statuses: number[] = [];
  return {
    statuses,
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    },
  };
}

describe('rate limits', () => {
  it('waits out a 429 and then succeeds', { timeout: 20_000 }, async () => {
    const recorder = statusRecorder();
    const client = newClient(limited, { fetch: recorder.fetch });
    await burnBudget(client);
    recorder.statuses.length = 0;
    const balance = await client.getBalance();
    expect(balance.totalCents).toBe(1000);
    expect(recorder.statuses[0]).toBe(429);
    expect(recorder.statuses.at(-1)).toBe(200);
  });

  it('raises RateLimitedError with retryAfter when retries are off', { timeout: 20_000 }, async () => {
    const client = newClient(limited, { maxRetries: 0 });
    await burnBudget(client);
    const error = await client.getBalance().catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({ status: 429, code: 'RATE_LIMITED', message: 'Rate limit exceeded' });
    expect((error as RateLimitedError).retryAfter).toBeGreaterThanOrEqual(1);
  });
});

describe('answers lost after the server acted', () => {
  const proxy = FaultProxy.forTests(main.baseUrl);

  it('a post retried with the same Idempotency-Key posts once', async () => {
    const requester = newClient(main, { baseUrl: proxy.baseUrl });
    const me = await requester.authenticate();
    proxy.dropAnswer('POST', /^\/api\/v1\/jobs$/);
    const job = await requester.postJob({ capability: 'gpt4', credits: 12, timeout: 30, prompt: 'post me once' });
    expect(proxy.dropped).toContainEqual(expect.stringMatching(/^POST \/api\/v1\/jobs → 200$/));
    expect(proxy.requests.filter((line) => line === 'POST /api/v1/jobs')).toHaveLength(2);
    const mine = await requester.listJobs({ requesterId: me.id });
    expect(mine.map((j) => j.jobId)).toEqual([job.jobId]);
    expect((await requester.getBalance()).totalCents).toBe(1000 - 12);
    expect((await requester.transactions()).filter((row) => row.type === 'job_post')).toHaveLength(1);
  });

  it('an accept whose answer was lost returns the job this worker holds', async () => {
    const requester = newClient(main);
    const worker = newClient(main, { baseUrl: proxy.baseUrl });
    const me = await worker.authenticate();
    const job = await postCheap(requester);
    proxy.dropAnswer('POST', new RegExp(`/jobs/${job.jobId}/accept$`));
    const accepted = await worker.acceptJob(job.jobId);
    expect(accepted).toMatchObject({ jobId: job.jobId, status: 'accepted', workerId: me.id });
    expect(accepted.prompt).toBe('Summarize this...');
    await worker.completeJob(job.jobId, 'done');
  });

  it('a complete whose answer was lost returns the completion and what it earned', async () => {
    const requester = newClient(main);
    const worker = newClient(main, { baseUrl: proxy.baseUrl });
    const job = await postCheap(requester, 'pays 15', 15);
    await worker.acceptJob(job.jobId);
    proxy.dropAnswer('POST', new RegExp(`/jobs/${job.jobId}/complete$`));
    const done = await worker.completeJob(job.jobId, 'result');
    expect(done.creditsEarned).toBe(13);
    expect(done.job).toMatchObject({ status: 'completed', result: 'result' });
    expect((await worker.getBalance()).cashCents).toBe(13);
  });

  it('a cancel whose answer was lost returns the refund', async () => {
    const requester = newClient(main, { baseUrl: proxy.baseUrl });
    const job = await postCheap(requester);
    proxy.dropAnswer('POST', new RegExp(`/jobs/${job.jobId}/cancel$`));
    const cancelled = await requester.cancelJob(job.jobId);
    expect(cancelled.creditsRefunded).toBe(10);
    expect(cancelled.job.status).toBe('cancelled');
    expect((await requester.getBalance()).totalCents).toBe(1000);
  });

  it('a verify whose answer was lost signs in with a new challenge', async () => {
    const client = newClient(main, { baseUrl: proxy.baseUrl });
    const before = proxy.requests.length;
    proxy.dropAnswer('POST', /\/auth\/verify$/);
    const user = await client.authenticate();
    expect(user.publicKey).toBe(client.address);
    expect(proxy.requests.slice(before)).toEqual([
      'POST /api/v1/auth/challenge',
      'POST /api/v1/auth/verify',
      'POST /api/v1/auth/verify',
      'POST /api/v1/auth/challenge',
      'POST /api/v1/auth/verify',
    ]);
  });

  it('a refusal on the first attempt is raised as is', async () => {
    const requester = newClient(main);
    const first = newClient(main);
    const second = newClient(main, { baseUrl: proxy.baseUrl });
    const job = await postCheap(requester);
    await first.acceptJob(job.jobId);
    await expect(second.acceptJob(job.jobId)).rejects.toBeInstanceOf(JobAlreadyAcceptedError);
    await first.completeJob(job.jobId, 'done');
  });
});
