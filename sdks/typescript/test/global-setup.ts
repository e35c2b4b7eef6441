/**
 * Starts the servers the test files share, once per run, and stops them at the end after a
 * final ledger audit of each.
 */
import type { TestProject } from 'vitest/node';

import { auditLedger, startServer, type ServerHandle, type ServerInfo } from './helpers/server.js';

/** The shared servers, by purpose. */
export interface Servers {
  /** Rate limits off; every new user gets 1000 cents of promo credit. */
  main: ServerInfo;
  /** 60 requests per minute per user, so a 429 is easy to provoke. */
  limited: ServerInfo;
  /** At most 2 accepted jobs per worker; Stripe configured (webhook signatures are checked). */
  capped: ServerInfo;
  /** Jobs wait only 3 s for a worker; events are kept only 2 s. */
  shortWindow: ServerInfo;
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: Servers;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const promo = { J0_SIGNUP_PROMO_CENTS: '1000' };
  const started = await Promise.allSettled([
    startServer(promo),
    startServer({ ...promo, J0_RATE_USER_PER_MIN: '60' }),
    startServer({
      ...promo,
      J0_MAX_OPEN_JOBS_PER_WORKER: '2',
      STRIPE_SECRET_KEY: 'sk_test_j0_sdk',
      STRIPE_WEBHOOK_SECRET: 'whsec_j0_sdk',
      J0_STRIPE_API_BASE: 'http://127.0.0.1:9',
    }),
    startServer({ ...promo, J0_ACCEPT_WINDOW_SEC: '3', J0_EVENT_RETENTION_SEC: '2' }),
  ]);
  const handles = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(handles.map((handle) => handle.stop()));
    throw failed.reason;
  }
  const [main, limited, capped, shortWindow] = handles as [ServerHandle, ServerHandle, ServerHandle, ServerHandle];
  const info = (handle: ServerHandle): ServerInfo => ({ baseUrl: handle.baseUrl, env: handle.env, database: handle.database });
  project.provide('servers', { main: info(main), limited: info(limited), capped: info(capped), shortWindow: info(shortWindow) });

  return async () => {
    const audits = await Promise.all(handles.map((handle) => auditLedger(handle)));
    await Promise.all(handles.map((handle) => handle.stop()));
    const broken = audits.find((audit) => audit.code !== 0);
    if (broken !== undefined) throw new Error(`ledger audit failed:\n${broken.stdout}${broken.stderr}`);
  };
}
