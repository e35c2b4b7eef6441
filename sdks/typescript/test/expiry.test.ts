/** Refusals that need the clock to pass a deadline: a late accept and a late result. */
import { describe, expect, it } from 'vitest';

import { JobExpiredError, TimeoutExpiredError } from '../src/index.js';
import { auditAfterAll, eventually, newClient, postCheap, servers } from './helpers/clients.js';

const { main, shortWindow } = servers();
auditAfterAll(main, shortWindow);

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('deadlines', () => {
  it('JOB_EXPIRED: accepting after the acceptance window', { timeout: 20_000 }, async () => {
    const requester = newClient(shortWindow);
    const worker = newClient(shortWindow);
    await worker.authenticate();
    const job = await postCheap(requester);
    expect(job.expiresAt.getTime() - job.createdAt.getTime()).toBe(3_000);
    await pause(job.expiresAt.getTime() - Date.now() + 1_000);
    const error = await worker.acceptJob(job.jobId).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(JobExpiredError);
    expect(error).toMatchObject({ status: 400, code: 'JOB_EXPIRED', message: 'Job timeout expired' });
    // The sweeper refunds it.
    await eventually(async () => (await requester.getBalance()).totalCents === 1000);
    expect((await requester.getJob(job.jobId)).status).toBe('timeout');
  });

  it('TIMEOUT_EXPIRED: a result after timeout_sec', { timeout: 30_000 }, async () => {
    const requester = newClient(main);
    const worker = newClient(main);
    const job = await postCheap(requester, 'quick', 10, 10);
    const accepted = await worker.acceptJob(job.jobId);
    await pause(accepted.expiresAt.getTime() - Date.now() + 1_000);
    const error = await worker.completeJob(job.jobId, 'late').catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(TimeoutExpiredError);
    expect(error).toMatchObject({ status: 400, code: 'TIMEOUT_EXPIRED' });
    await eventually(async () => (await requester.getBalance()).totalCents === 1000);
  });
});
