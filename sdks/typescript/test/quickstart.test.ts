/**
 * The seed document's TypeScript quickstart, verbatim but for a real key in place of '0x...',
 * run as an ES module against the local server (J0_BASE_URL). scripts/test.sh runs the same
 * text again from the packed tarball in a fresh project.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, expect, it, vi } from 'vitest';
import { generatePrivateKey } from 'viem/accounts';

import { J0Client } from '../src/index.js';
import { auditAfterAll, servers } from './helpers/clients.js';

const { main } = servers();
auditAfterAll(main);

const SNIPPET = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'quickstart.mjs.txt'), 'utf8');

afterEach(() => {
  vi.restoreAllMocks();
});

it('runs the seed quickstart verbatim', async () => {
  const key = generatePrivateKey();
  expect(SNIPPET.split("'0x...'")).toHaveLength(2);
  const dir = mkdtempSync(path.join(tmpdir(), 'j0-quickstart-'));
  const file = path.join(dir, 'quickstart.mjs');
  writeFileSync(file, SNIPPET.replace("'0x...'", `'${key}'`));
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
  });
  process.env['J0_BASE_URL'] = main.baseUrl;
  try {
    await import(pathToFileURL(file).href);
  } finally {
    delete process.env['J0_BASE_URL'];
    rmSync(dir, { recursive: true, force: true });
  }
  expect(lines).toHaveLength(1);
  const match = /^Job posted: (\d+)$/.exec(lines[0] ?? '');
  expect(match).not.toBeNull();
  const owner = new J0Client({ privateKey: key, baseUrl: main.baseUrl });
  const job = await owner.getJob(Number(match?.[1]));
  expect(job).toMatchObject({ capability: 'opus', credits: 10, timeoutSec: 30, prompt: 'Summarize this...', status: 'posted' });
  expect(job.requesterId).toBe((await owner.me()).id);
});
