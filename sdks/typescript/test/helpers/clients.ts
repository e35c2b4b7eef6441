/** Fresh wallets and clients for the tests, so no two tests share a user. */
import { afterAll, expect, inject } from 'vitest';
import { generatePrivateKey } from 'viem/accounts';

import { J0Client, type J0ClientOptions } from '../../src/index.js';
import type { Servers } from '../global-setup.js';
import { auditLedger, type ServerInfo } from './server.js';

/** The shared servers started by the global setup. */
export function servers(): Servers {
  return inject('servers');
}

/** A client with a new random wallet on `server`. */
export function newClient(server: ServerInfo, options: J0ClientOptions = {}): J0Client {
  return new J0Client({ privateKey: generatePrivateKey(), baseUrl: server.baseUrl, ...options });
}

/** After the file's tests, the ledger of each server must audit clean. */
export function auditAfterAll(...used: ServerInfo[]): void {
  afterAll(async () => {
    for (const server of used) {
      const audit = await auditLedger(server);
      expect(audit.code, audit.stdout + audit.stderr).toBe(0);
    }
  });
}

/** Posts a cheap job as `requester`. */
export function postCheap(requester: J0Client, prompt = 'Summarize this...', credits = 10, timeout = 30) {
  return requester.postJob({ capability: 'opus', credits, timeout, prompt });
}

/** Waits until `check` returns true, polling every 50 ms, or fails after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
