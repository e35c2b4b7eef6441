/** Every error class the server can be made to answer, provoked by a real refusal. */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

import {
  APIConnectionError,
  APITimeoutError,
  ChallengeNotFoundError,
  ChallengeUsedError,
  IdempotencyKeyReusedError,
  InsufficientCreditsError,
  InvalidAmountError,
  InvalidSignatureError,
  InvalidWebhookSignatureError,
  J0Client,
  J0Error,
  JobAlreadyAcceptedError,
  JobNotAcceptedError,
  JobNotAvailableError,
  JobNotFoundError,
  MethodNotAllowedError,
  NotFoundError,
  NotTheRequesterError,
  NotTheWorkerError,
  OwnJobError,
  PayloadTooLargeError,
  PaymentsUnavailableError,
  PermissionDeniedError,
  ServiceUnavailableError,
  TooManyOpenJobsError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  UserNotFoundError,
  ValidationError,
} from '../src/index.js';
import { auditAfterAll, newClient, postCheap, servers } from './helpers/clients.js';
import { dropDatabase, hasPostgres, psql, startServer } from './helpers/server.js';

const { main, capped } = servers();
auditAfterAll(main, capped);

/** The error `promise` rejects with, which must be an instance of `type`. */
async function refusal<T extends J0Error>(promise: Promise<unknown>, type: abstract new (...args: never[]) => T): Promise<T> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(type);
  return error as T;
}

async function challengeFor(client: J0Client, address: string): Promise<{ nonce: string; message: string }> {
  const answer = await client.request<{ challenge: { nonce: string }; message_to_sign: string }>('POST', '/auth/challenge', {
    body: { public_key: address },
    auth: false,
  });
  return { nonce: answer.challenge.nonce, message: answer.message_to_sign };
}

describe('authentication', () => {
  const raw = new J0Client({ baseUrl: main.baseUrl });

  it('UNAUTHORIZED: a token the server never issued', async () => {
    const error = await refusal(new J0Client({ baseUrl: main.baseUrl, token: 'not.a.token' }).me(), UnauthorizedError);
    expect([error.status, error.code]).toEqual([401, 'UNAUTHORIZED']);
  });

  it('INVALID_SIGNATURE: a signature by another key', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const other = privateKeyToAccount(generatePrivateKey());
    const { nonce, message } = await challengeFor(raw, account.address);
    const signature = await other.signMessage({ message });
    const error = await refusal(
      raw.request('POST', '/auth/verify', { body: { public_key: account.address, challenge_nonce: nonce, signature }, auth: false }),
      InvalidSignatureError,
    );
    expect([error.status, error.code, error.message]).toEqual([401, 'INVALID_SIGNATURE', 'Invalid signature']);
  });

  it('CHALLENGE_NOT_FOUND and CHALLENGE_USED', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const { nonce, message } = await challengeFor(raw, account.address);
    const signature = await account.signMessage({ message });
    const unknown = await refusal(
      raw.request('POST', '/auth/verify', {
        body: { public_key: account.address, challenge_nonce: 'f'.repeat(32), signature },
        auth: false,
      }),
      ChallengeNotFoundError,
    );
    expect(unknown.code).toBe('CHALLENGE_NOT_FOUND');
    const body = { public_key: account.address, challenge_nonce: nonce, signature };
    await raw.request('POST', '/auth/verify', { body, auth: false });
    const used = await refusal(raw.request('POST', '/auth/verify', { body, auth: false }), ChallengeUsedError);
    expect([used.status, used.code]).toEqual([401, 'CHALLENGE_USED']);
  });
});

describe('jobs', () => {
  it('OWN_JOB, NOT_THE_WORKER, NOT_THE_REQUESTER', async () => {
    const requester = newClient(main);
    const worker = newClient(main);
    const stranger = newClient(main);
    const job = await postCheap(requester);
    const own = await refusal(requester.acceptJob(job.jobId), OwnJobError);
    expect(own).toBeInstanceOf(PermissionDeniedError);
    expect([own.status, own.code]).toEqual([403, 'OWN_JOB']);
    const notRequester = await refusal(stranger.cancelJob(job.jobId), NotTheRequesterError);
    expect(notRequester.code).toBe('NOT_THE_REQUESTER');
    await worker.acceptJob(job.jobId);
    const notWorker = await refusal(stranger.completeJob(job.jobId, 'mine'), NotTheWorkerError);
    expect([notWorker.status, notWorker.code]).toEqual([403, 'NOT_THE_WORKER']);
    await worker.completeJob(job.jobId, 'done');
  });

  it('JOB_NOT_FOUND, USER_NOT_FOUND, NOT_FOUND', async () => {
    const client = newClient(main);
    const job = await refusal(client.getJob(9_000_000_000), JobNotFoundError);
    expect(job).toBeInstanceOf(NotFoundError);
    expect([job.status, job.code]).toEqual([404, 'JOB_NOT_FOUND']);
    const user = await refusal(client.user(9_000_000_000), UserNotFoundError);
    expect(user.code).toBe('USER_NOT_FOUND');
    const route = await refusal(client.request('GET', '/no-such-route'), NotFoundError);
    expect(route.constructor).toBe(NotFoundError);
    expect(route.code).toBe('NOT_FOUND');
  });

  it('VALIDATION_ERROR from the server, and before sending', async () => {
    const client = newClient(main);
    const server = await refusal(client.listJobs({ limit: 0 }), ValidationError);
    expect([server.status, server.code]).toEqual([400, 'VALIDATION_ERROR']);
    expect(server.message).toContain('limit');
    const empty = await refusal(client.completeJob((await postCheap(newClient(main))).jobId, ''), J0Error);
    expect(empty.status).toBe(400);

    const bad = [
      { capability: 'gpt5' as 'opus', credits: 10, timeout: 30, prompt: 'x' },
      { capability: 'opus' as const, credits: 4, timeout: 30, prompt: 'x' },
      { capability: 'opus' as const, credits: 101, timeout: 30, prompt: 'x' },
      { capability: 'opus' as const, credits: 10.5, timeout: 30, prompt: 'x' },
      { capability: 'opus' as const, credits: 10, timeout: 9, prompt: 'x' },
      { capability: 'opus' as const, credits: 10, timeout: 61, prompt: 'x' },
      { capability: 'opus' as const, credits: 10, timeout: 30, prompt: '' },
      { capability: 'opus' as const, credits: 10, timeout: 30, prompt: 'x'.repeat(10_241) },
    ];
    for (const params of bad) {
      const local = await refusal(client.postJob(params), ValidationError);
      expect([local.status, local.code]).toEqual([0, 'VALIDATION_ERROR']);
    }
    expect(await client.transactions()).toHaveLength(1);
  });

  it('INSUFFICIENT_CREDITS with have and need', async () => {
    const requester = newClient(main);
    for (let i = 0; i < 10; i++) await postCheap(requester, `job ${i}`, 100);
    const error = await refusal(postCheap(requester, 'one too many', 100), InsufficientCreditsError);
    expect([error.status, error.code, error.have, error.need]).toEqual([400, 'INSUFFICIENT_CREDITS', 0, 100]);
    expect(error.message).toBe('Insufficient credits: have 0, need 100');
  });

  it('JOB_ALREADY_ACCEPTED, JOB_NOT_AVAILABLE, JOB_NOT_ACCEPTED', async () => {
    const requester = newClient(main);
    const first = newClient(main);
    const second = newClient(main);
    const job = await postCheap(requester);
    await first.acceptJob(job.jobId);
    const taken = await refusal(second.acceptJob(job.jobId), JobAlreadyAcceptedError);
    expect([taken.status, taken.code, taken.message]).toEqual([400, 'JOB_ALREADY_ACCEPTED', 'Job already accepted by another worker']);
    const cannotCancel = await refusal(requester.cancelJob(job.jobId), JobAlreadyAcceptedError);
    expect(cannotCancel.message).toBe('Job already accepted (cannot cancel)');

    const other = await postCheap(requester);
    const notAccepted = await refusal(first.completeJob(other.jobId, 'too soon'), JobNotAcceptedError);
    expect(notAccepted.code).toBe('JOB_NOT_ACCEPTED');
    await requester.cancelJob(other.jobId);
    const gone = await refusal(second.acceptJob(other.jobId), JobNotAvailableError);
    expect(gone.code).toBe('JOB_NOT_AVAILABLE');
    await first.completeJob(job.jobId, 'done');
  });

  it('IDEMPOTENCY_KEY_REUSED: the same key with another body', async () => {
    const requester = newClient(main);
    const idempotencyKey = `reuse-${Date.now()}`;
    await requester.postJob({ capability: 'opus', credits: 10, timeout: 30, prompt: 'first', idempotencyKey });
    const error = await refusal(
      requester.postJob({ capability: 'opus', credits: 10, timeout: 30, prompt: 'second', idempotencyKey }),
      IdempotencyKeyReusedError,
    );
    expect([error.status, error.code]).toEqual([400, 'IDEMPOTENCY_KEY_REUSED']);
  });

  it('PAYLOAD_TOO_LARGE: a result over 2 MiB', async () => {
    const requester = newClient(main);
    const worker = newClient(main);
    const job = await postCheap(requester);
    await worker.acceptJob(job.jobId);
    const error = await refusal(worker.completeJob(job.jobId, 'x'.repeat(2 * 1024 * 1024 + 1)), PayloadTooLargeError);
    expect([error.status, error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect((await worker.completeJob(job.jobId, 'fits')).creditsEarned).toBe(9);
  });

  it('TOO_MANY_OPEN_JOBS: a worker over J0_MAX_OPEN_JOBS_PER_WORKER', async () => {
    const requester = newClient(capped);
    const worker = newClient(capped);
    const jobs = [await postCheap(requester, 'a'), await postCheap(requester, 'b'), await postCheap(requester, 'c')];
    await worker.acceptJob(jobs[0]!.jobId);
    await worker.acceptJob(jobs[1]!.jobId);
    const error = await refusal(worker.acceptJob(jobs[2]!.jobId), TooManyOpenJobsError);
    expect([error.status, error.code]).toEqual([400, 'TOO_MANY_OPEN_JOBS']);
    expect((await worker.getJob(jobs[2]!.jobId)).status).toBe('posted');
    await worker.completeJob(jobs[0]!.jobId, 'done');
    expect((await worker.acceptJob(jobs[2]!.jobId)).status).toBe('accepted');
    await worker.completeJob(jobs[1]!.jobId, 'done');
    await worker.completeJob(jobs[2]!.jobId, 'done');
  });
});

describe('payments', () => {
  it('INVALID_AMOUNT and PAYMENTS_UNAVAILABLE', async () => {
    const client = newClient(main, { maxRetries: 0 });
    const amount = await refusal(client.buyCredits(7), InvalidAmountError);
    expect([amount.status, amount.code]).toEqual([400, 'INVALID_AMOUNT']);
    const unavailable = await refusal(client.buyCredits(10), PaymentsUnavailableError);
    expect([unavailable.status, unavailable.code]).toEqual([503, 'PAYMENTS_UNAVAILABLE']);
  });

  it('INVALID_WEBHOOK_SIGNATURE: a webhook signed with the wrong secret', async () => {
    const client = new J0Client({ baseUrl: capped.baseUrl });
    const payload = JSON.stringify({ id: 'evt_1', type: 'checkout.session.completed', data: { object: {} } });
    const timestamp = Math.floor(Date.now() / 1000);
    const v1 = createHmac('sha256', 'whsec_wrong').update(`${timestamp}.${payload}`).digest('hex');
    const error = await refusal(
      client.request('POST', '/payments/stripe/webhook', {
        body: payload,
        headers: { 'Stripe-Signature': `t=${timestamp},v1=${v1}` },
        auth: false,
      }),
      InvalidWebhookSignatureError,
    );
    expect([error.status, error.code]).toEqual([400, 'INVALID_WEBHOOK_SIGNATURE']);
  });
});

describe('transport and protocol', () => {
  it('METHOD_NOT_ALLOWED and UNSUPPORTED_MEDIA_TYPE', async () => {
    const client = newClient(main);
    const method = await refusal(client.request('DELETE', '/jobs'), MethodNotAllowedError);
    expect([method.status, method.code]).toEqual([405, 'METHOD_NOT_ALLOWED']);
    const media = await refusal(
      client.request('POST', '/jobs', { body: 'capability=opus', headers: { 'Content-Type': 'text/plain' } }),
      UnsupportedMediaTypeError,
    );
    expect([media.status, media.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('APIConnectionError: nobody listens on the port', async () => {
    const client = new J0Client({ baseUrl: 'http://127.0.0.1:9/api/v1', maxRetries: 1 });
    const error = await refusal(client.user(1), APIConnectionError);
    expect(error.status).toBe(0);
    expect(error.code).toBeUndefined();
  });

  it('APITimeoutError: a server that never answers', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const client = new J0Client({ baseUrl: `http://127.0.0.1:${port}/api/v1`, timeoutMs: 300, maxRetries: 0 });
      const error = await refusal(client.user(1), APITimeoutError);
      expect(error).toBeInstanceOf(APIConnectionError);
      expect(error.status).toBe(0);
    } finally {
      silent.close();
    }
  });

  it('SERVICE_UNAVAILABLE: a server whose database is gone', { timeout: 60_000 }, async (context) => {
    if (!(await hasPostgres())) {
      context.skip('needs the shared PostgreSQL to take a database away');
      return;
    }
    const doomed = await startServer();
    try {
      const client = new J0Client({ baseUrl: doomed.baseUrl, privateKey: generatePrivateKey(), maxRetries: 0 });
      await client.authenticate();
      const name = doomed.database as string;
      // Its connections are cut and the database dropped under it.
      await dropDatabase(name);
      expect((await psql(`SELECT count(*) FROM pg_database WHERE datname = '${name}'`)).stdout.trim()).toBe('0');
      const health = await refusal(client.request('GET', '/health', { auth: false }), ServiceUnavailableError);
      expect([health.status, health.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
      const data = await refusal(client.getBalance(), ServiceUnavailableError);
      expect(data.status).toBe(503);
      // A 5xx is retried: one attempt and `maxRetries` more.
      let attempts = 0;
      const retrying = new J0Client({
        baseUrl: doomed.baseUrl,
        maxRetries: 2,
        fetch: (input, init) => {
          attempts++;
          return fetch(input, init);
        },
      });
      await refusal(retrying.request('GET', '/health', { auth: false }), ServiceUnavailableError);
      expect(attempts).toBe(3);
    } finally {
      await doomed.stop();
    }
  });
});
