/** Paging over more rows than one page holds. */
import { describe, expect, it } from 'vitest';

import { auditAfterAll, newClient, servers } from './helpers/clients.js';

const { main } = servers();
auditAfterAll(main);

describe('paging', () => {
  it('iterJobs walks 120 jobs in pages of 50, newest first, each once', { timeout: 60_000 }, async () => {
    const requester = newClient(main);
    const me = await requester.authenticate();
    const posted: number[] = [];
    for (let i = 0; i < 120; i++) {
      posted.push((await requester.postJob({ capability: 'dall-e-3', credits: 5, timeout: 10, prompt: `job ${i}` })).jobId);
    }
    const pages: string[] = [];
    const client = newClient(main, {
      fetch: (input, init) => {
        const url = new URL(String(input));
        if (url.pathname.endsWith('/jobs')) pages.push(url.search);
        return fetch(input, init);
      },
    });
    const seen: number[] = [];
    for await (const job of client.iterJobs({ requesterId: me.id, pageSize: 50 })) seen.push(job.jobId);
    expect(seen).toEqual([...posted].reverse());
    expect(pages).toHaveLength(3);
    expect(pages[1]).toContain(`before=${posted[70]}`);

    const firstPage = await client.listJobs({ requesterId: me.id, limit: 50 });
    const secondPage = await client.listJobs({ requesterId: me.id, limit: 50, before: firstPage.at(-1)?.jobId });
    expect(secondPage.map((job) => job.jobId)).toEqual(seen.slice(50, 100));
    const capped = await client.listJobs({ requesterId: me.id, limit: 500 });
    expect(capped).toHaveLength(100);

    const rows: number[] = [];
    for await (const row of requester.iterTransactions({ pageSize: 50 })) rows.push(row.id);
    expect(rows).toHaveLength(121);
    expect(new Set(rows).size).toBe(121);
    expect([...rows].sort((a, b) => b - a)).toEqual(rows);
    const oldest = (await requester.transactions({ limit: 1, before: rows[119] }))[0];
    expect(oldest?.type).toBe('promo');
  });

  it('an empty listing ends the iterator at once', async () => {
    const client = newClient(main);
    const me = await client.authenticate();
    const jobs = [];
    for await (const job of client.iterJobs({ requesterId: me.id })) jobs.push(job);
    expect(jobs).toEqual([]);
  });
});
