/** The WebSocket event stream: delivery, typing, subscriptions, and resuming without duplicates. */
import { describe, expect, it } from 'vitest';

import { J0Client, UnauthorizedError, ValidationError, type J0Client as Client, type J0Event } from '../src/index.js';
import { auditAfterAll, eventually, newClient, postCheap, servers } from './helpers/clients.js';
import { FaultProxy } from './helpers/proxy.js';

const { main, shortWindow } = servers();
auditAfterAll(main, shortWindow);

/** Reads `client.events()` in the background into `events` until `stop()`. */
function collect(client: Client, options: Parameters<Client['events']>[0] = {}) {
  const events: J0Event[] = [];
  const controller = new AbortController();
  let connects = 0;
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const event of client.events({ ...options, signal: controller.signal, onConnect: () => connects++ })) {
        events.push(event);
      }
    } catch (error) {
      failure = error;
    }
  })();
  return {
    events,
    connects: () => connects,
    failure: () => failure,
    connected: () => eventually(() => connects > 0),
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

const named = (events: J0Event[], name: J0Event['event']): J0Event[] => events.filter((event) => event.event === name);

describe('events', () => {
  it('the requester sees job.accepted and job.completed; the worker sees what it earned', async () => {
    const requester = newClient(main);
    const worker = newClient(main);
    await Promise.all([requester.authenticate(), worker.authenticate()]);
    const requesterStream = collect(requester, { capabilities: ['gpt4-turbo'] });
    const workerStream = collect(worker, { capabilities: ['gpt4-turbo'] });
    await Promise.all([requesterStream.connected(), workerStream.connected()]);

    const job = await requester.postJob({ capability: 'gpt4-turbo', credits: 20, timeout: 30, prompt: 'stream me' });
    await worker.acceptJob(job.jobId);
    await worker.completeJob(job.jobId, 'streamed');
    await eventually(() => named(requesterStream.events, 'job.completed').length === 1 && named(workerStream.events, 'job.completed').length === 1);
    await requesterStream.stop();
    await workerStream.stop();

    const accepted = named(requesterStream.events, 'job.accepted')[0];
    if (accepted?.event !== 'job.accepted') throw new Error('no job.accepted');
    expect(accepted.data).toMatchObject({ jobId: job.jobId, status: 'accepted', prompt: 'stream me' });
    expect(accepted.timestamp).toBeInstanceOf(Date);
    expect(typeof accepted.id).toBe('number');

    const completed = named(requesterStream.events, 'job.completed')[0];
    if (completed?.event !== 'job.completed') throw new Error('no job.completed');
    expect(completed.data).toMatchObject({ jobId: job.jobId, status: 'completed', result: 'streamed' });
    expect(completed.data.creditsEarned).toBeUndefined();
    expect(completed.data.completedAt).toBeInstanceOf(Date);

    const earned = named(workerStream.events, 'job.completed')[0];
    if (earned?.event !== 'job.completed') throw new Error('no job.completed for the worker');
    expect(earned.data.creditsEarned).toBe(18);

    const balances = named(requesterStream.events, 'balance.updated');
    const last = balances.at(-1);
    if (last?.event !== 'balance.updated') throw new Error('no balance.updated');
    expect(last.data).toEqual({ cashCents: 0, promoCents: 980, totalCents: 980 });

    const ids = requesterStream.events.map((event) => ('id' in event ? event.id : 0));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('job.posted is narrowed to the subscribed capabilities', async () => {
    const requester = newClient(main);
    const watcher = newClient(main);
    const stream = collect(watcher, { capabilities: ['sonnet'] });
    await stream.connected();
    const opus = await requester.postJob({ capability: 'opus', credits: 5, timeout: 10, prompt: 'not for you' });
    const sonnet = await requester.postJob({ capability: 'sonnet', credits: 5, timeout: 10, prompt: 'for you' });
    await eventually(() => stream.events.some((event) => event.event === 'job.posted' && event.data.jobId === sonnet.jobId));
    await stream.stop();
    const posted = named(stream.events, 'job.posted').map((event) => (event.event === 'job.posted' ? event.data : undefined));
    expect(posted.every((job) => job?.capability === 'sonnet')).toBe(true);
    expect(posted.some((job) => job?.jobId === opus.jobId)).toBe(false);
  });

  it('an unknown capability ends the stream with ValidationError', async () => {
    const client = newClient(main);
    const iterate = async (): Promise<void> => {
      for await (const _ of client.events({ capabilities: ['gpt5' as 'opus'] })) {
        // Nothing is expected before the refusal.
      }
    };
    const error = await iterate().catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect((error as ValidationError).message).toContain('capability');
  });

  it('a refused token ends the stream with UnauthorizedError', async () => {
    const client = new J0Client({ baseUrl: main.baseUrl, token: 'not.a.token', maxRetries: 0 });
    const error = await client
      .events()
      .next()
      .catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(UnauthorizedError);
    expect(error).toMatchObject({ status: 401 });
  });
});

describe('resuming', () => {
  const proxy = FaultProxy.forTests(main.baseUrl);

  it('reconnects with ?since=<last id> and gets what happened meanwhile, once', { timeout: 30_000 }, async () => {
    const requester = newClient(main, { wsUrl: proxy.wsUrl });
    const worker = newClient(main);
    await requester.authenticate();
    const stream = collect(requester, { capabilities: ['opus'] });
    await stream.connected();

    const first = await postCheap(requester, 'before the cut');
    await worker.acceptJob(first.jobId);
    await eventually(() => stream.events.some((event) => event.event === 'job.accepted' && event.data.jobId === first.jobId));
    const seenBefore = stream.events.length;
    const lastId = Math.max(...stream.events.map((event) => ('id' in event ? event.id : 0)));

    // Cut the socket and keep it down while things happen.
    proxy.refuseWebSockets(true);
    proxy.cutWebSockets();
    await worker.completeJob(first.jobId, 'while away');
    const second = await postCheap(requester, 'after the cut');
    await worker.acceptJob(second.jobId);
    proxy.refuseWebSockets(false);

    await eventually(() => stream.events.some((event) => event.event === 'job.accepted' && event.data.jobId === second.jobId), 20_000);
    await eventually(() => stream.connects() >= 2);
    await stream.stop();

    expect(proxy.requests).toContainEqual(`GET /ws?since=${lastId}`);
    const after = stream.events.slice(seenBefore);
    expect(after.some((event) => event.event === 'job.completed' && event.data.jobId === first.jobId)).toBe(true);
    const ids = stream.events.flatMap((event) => ('id' in event ? [event.id] : []));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    await worker.completeJob(second.jobId, 'done');
  });
});

describe('truncation', () => {
  it('surfaces events.truncated when `since` is older than what the server keeps', { timeout: 40_000 }, async () => {
    const client = newClient(shortWindow);
    await client.authenticate();
    // Sign-in wrote an event; once the server pruned it (retention 2 s, pruned within 10 s), a
    // replay from 0 starts with events.truncated.
    let first: J0Event | undefined;
    for (let attempt = 0; attempt < 15 && first?.event !== 'events.truncated'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 1_000);
      for await (const event of client.events({ since: 0, capabilities: ['opus'], signal: controller.signal })) {
        first = event;
        break;
      }
      clearTimeout(timer);
    }
    if (first?.event !== 'events.truncated') throw new Error(`no events.truncated, got ${JSON.stringify(first)}`);
    expect(first.data.since).toBe(0);
    expect(first.data.oldestId === null || first.data.oldestId > 1).toBe(true);
  });
});
