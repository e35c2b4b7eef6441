/** The requester and worker paths end to end, against a real server. */
import { describe, expect, it } from 'vitest';

import { J0Client, UnauthorizedError, type Job } from '../src/index.js';
import { auditAfterAll, newClient, postCheap, servers } from './helpers/clients.js';

const { main } = servers();
auditAfterAll(main);

/** A fetch that records `METHOD path` of every request. */
function recordingFetch(): { fetch: typeof fetch; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push(`${init?.method ?? 'GET'} ${new URL(String(input)).pathname.replace('/api/v1', '')}`);
      return fetch(input, init);
    },
  };
}

describe('sign-in', () => {
  it('makes exactly one challenge and one verify, and stores the token', async () => {
    const recorder = recordingFetch();
    const client = newClient(main, { fetch: recorder.fetch });
    const user = await client.authenticate();
    expect(recorder.calls).toEqual(['POST /auth/challenge', 'POST /auth/verify']);
    expect(user.publicKey).toBe(client.address);
    expect(user.identityType).toBe('ethereum_wallet');
    expect(user.reputationScore).toBe(0);
    expect(user.createdAt).toBeInstanceOf(Date);
    expect(client.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const me = await client.me();
    expect(me.id).toBe(user.id);
    expect(recorder.calls).toHaveLength(3);
  });

  it('signs in by itself on the first call', async () => {
    const recorder = recordingFetch();
    const client = newClient(main, { fetch: recorder.fetch });
    const balance = await client.getBalance();
    expect(balance).toEqual({ cashCents: 0, promoCents: 1000, totalCents: 1000 });
    expect(recorder.calls).toEqual(['POST /auth/challenge', 'POST /auth/verify', 'GET /credits/balance']);
  });

  it('signs in once for concurrent first calls', async () => {
    const recorder = recordingFetch();
    const client = newClient(main, { fetch: recorder.fetch });
    await Promise.all([client.getBalance(), client.me(), client.transactions(), client.getBalance()]);
    expect(recorder.calls.filter((call) => call.startsWith('POST /auth/'))).toEqual(['POST /auth/challenge', 'POST /auth/verify']);
  });

  it('signs in again when the token expires within 60 s', async () => {
    const calls: string[] = [];
    // The server's tokens live 24 h; report this one as expiring in 30 s.
    const shortLived: typeof fetch = async (input, init) => {
      const path = new URL(String(input)).pathname.replace('/api/v1', '');
      calls.push(path);
      const response = await fetch(input, init);
      if (path !== '/auth/verify' || !response.ok) return response;
      const body = (await response.json()) as { expires_at: number };
      body.expires_at = Math.floor(Date.now() / 1000) + 30;
      return new Response(JSON.stringify(body), { status: response.status, headers: response.headers });
    };
    const client = newClient(main, { fetch: shortLived });
    await client.authenticate();
    const first = client.token;
    await client.me();
    expect(calls).toEqual(['/auth/challenge', '/auth/verify', '/auth/challenge', '/auth/verify', '/users/me']);
    expect(client.token).not.toBe(first);
  });

  it('uses a given token when it has no key', async () => {
    const owner = newClient(main);
    const user = await owner.authenticate();
    const byToken = new J0Client({ baseUrl: main.baseUrl, token: owner.token });
    expect((await byToken.me()).id).toBe(user.id);
  });

  it('signs in again after a 401 and retries once', async () => {
    const recorder = recordingFetch();
    const client = newClient(main, { fetch: recorder.fetch });
    await client.authenticate();
    const revoked = client.token;
    // Revoke the token behind the client's back: it still holds it and gets a 401.
    const logout = await fetch(`${main.baseUrl}/auth/logout`, { method: 'POST', headers: { Authorization: `Bearer ${revoked}` } });
    expect(logout.status).toBe(200);
    recorder.calls.length = 0;
    const me = await client.me();
    expect(me.publicKey).toBe(client.address);
    expect(recorder.calls).toEqual(['GET /users/me', 'POST /auth/challenge', 'POST /auth/verify', 'GET /users/me']);
    expect(client.token).not.toBe(revoked);
  });

  it('logout revokes the token; the next call signs in anew', async () => {
    const client = newClient(main);
    await client.authenticate();
    const old = client.token;
    await client.logout();
    expect(client.token).toBeUndefined();
    const stale = new J0Client({ baseUrl: main.baseUrl, token: old });
    await expect(stale.me()).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(stale.me()).rejects.toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect((await client.me()).publicKey).toBe(client.address);
    expect(client.token).not.toBe(old);
  });

  it('a client with neither key nor token refuses before sending', async () => {
    const recorder = recordingFetch();
    const client = new J0Client({ baseUrl: main.baseUrl, fetch: recorder.fetch });
    await expect(client.me()).rejects.toMatchObject({ name: 'UnauthorizedError', status: 0 });
    expect(recorder.calls).toEqual([]);
  });
});

describe('a job from post to payment', () => {
  it('posts, lists, accepts, completes; requester −10, worker +9', async () => {
    const requester = newClient(main);
    const worker = newClient(main);
    const requesterUser = await requester.authenticate();
    const workerUser = await worker.authenticate();
    const prompt = `Summarize this: ${'long text '.repeat(40)}`;

    const posted = await requester.postJob({ capability: 'opus', credits: 10, timeout: 30, prompt });
    expect(posted).toMatchObject({
      requesterId: requesterUser.id,
      workerId: null,
      capability: 'opus',
      credits: 10,
      timeoutSec: 30,
      status: 'posted',
      prompt,
      promptTruncated: false,
      result: null,
      acceptedAt: null,
      completedAt: null,
    });
    expect(typeof posted.jobId).toBe('number');
    expect(posted.createdAt).toBeInstanceOf(Date);
    expect(posted.expiresAt.getTime()).toBeGreaterThan(posted.createdAt.getTime());

    const open = await worker.listJobs({ status: 'posted', capability: 'opus', requesterId: requesterUser.id });
    expect(open.map((job) => job.jobId)).toEqual([posted.jobId]);
    const seenByWorker = await worker.getJob(posted.jobId);
    expect(seenByWorker.promptTruncated).toBe(true);
    expect(seenByWorker.prompt).toBe(prompt.slice(0, 200));

    const accepted = await worker.acceptJob(posted.jobId);
    expect(accepted).toMatchObject({ status: 'accepted', workerId: workerUser.id, prompt, promptTruncated: false });
    expect(accepted.acceptedAt).toBeInstanceOf(Date);
    expect(accepted.expiresAt.getTime() - (accepted.acceptedAt as Date).getTime()).toBe(30_000);

    const done = await worker.completeJob(posted.jobId, 'A summary.');
    expect(done.creditsEarned).toBe(9);
    expect(done.job).toMatchObject({ status: 'completed', result: 'A summary.', workerId: workerUser.id });
    expect(done.job.completedAt).toBeInstanceOf(Date);

    expect((await requester.getJob(posted.jobId)).result).toBe('A summary.');
    expect(await requester.getBalance()).toEqual({ cashCents: 0, promoCents: 990, totalCents: 990 });
    expect(await worker.getBalance()).toEqual({ cashCents: 9, promoCents: 1000, totalCents: 1009 });

    const history = await worker.transactions();
    expect(history[0]).toMatchObject({ userId: workerUser.id, amountCents: 9, type: 'job_earn', description: `Completed job #${posted.jobId}` });
    expect(history[0]?.createdAt).toBeInstanceOf(Date);
    const posts = await requester.transactions({ limit: 1 });
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({ amountCents: -10, type: 'job_post', description: `Posted job #${posted.jobId}` });

    const done2: Job[] = await worker.listJobs({ workerId: workerUser.id });
    expect(done2.map((job) => [job.jobId, job.status])).toEqual([[posted.jobId, 'completed']]);
    expect((await requester.user(workerUser.id)).reputationScore).toBe(1);
  });

  it('cancels a job nobody accepted and refunds it', async () => {
    const requester = newClient(main);
    const job = await postCheap(requester);
    const cancelled = await requester.cancelJob(job.jobId);
    expect(cancelled.creditsRefunded).toBe(10);
    expect(cancelled.job.status).toBe('cancelled');
    expect((await requester.getBalance()).totalCents).toBe(1000);
    const types = (await requester.transactions()).map((row) => row.type);
    expect(types).toEqual(['job_refund', 'job_post', 'promo']);
  });

  it('a repeated idempotency key returns the first job and posts once', async () => {
    const requester = newClient(main);
    const params = { capability: 'sonnet', credits: 7, timeout: 20, prompt: 'once', idempotencyKey: `key-${Date.now()}` } as const;
    const first = await requester.postJob(params);
    const second = await requester.postJob(params);
    expect(second.jobId).toBe(first.jobId);
    expect((await requester.getBalance()).totalCents).toBe(993);
  });
});

describe('users and payments', () => {
  it('reads public users and the deposit address', async () => {
    const client = newClient(main);
    const me = await client.authenticate();
    const anonymous = new J0Client({ baseUrl: main.baseUrl });
    const publicUser = await anonymous.user(me.id);
    expect(publicUser).toEqual({ id: me.id, publicKey: me.publicKey, reputationScore: 0, createdAt: me.createdAt });
    const deposit = await client.depositAddress();
    expect(deposit).toMatchObject({ network: 'Base L2', chainId: 8453, token: 'USDC', minConfirmations: 12 });
    expect(deposit.address).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(deposit.tokenContract).toBe('0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913');
  });

  it('request() reaches routes the SDK does not wrap', async () => {
    const client = newClient(main);
    expect(await client.request('GET', '/health', { auth: false })).toEqual({ status: 'ok', database: 'ok' });
  });
});
