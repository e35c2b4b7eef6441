/** CHALLENGE_EXPIRED: a challenge verified after its 60 seconds (a slow test, in a file of its own). */
import { expect, it } from 'vitest';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

import { AuthenticationError, ChallengeExpiredError, J0Client } from '../src/index.js';
import { servers } from './helpers/clients.js';

const { main } = servers();

it('CHALLENGE_EXPIRED: verifying a challenge older than 60 s', { timeout: 90_000 }, async () => {
  const client = new J0Client({ baseUrl: main.baseUrl });
  const account = privateKeyToAccount(generatePrivateKey());
  const challenge = await client.request<{ challenge: { nonce: string; expires_at: number }; message_to_sign: string }>(
    'POST',
    '/auth/challenge',
    { body: { public_key: account.address }, auth: false },
  );
  const signature = await account.signMessage({ message: challenge.message_to_sign });
  await new Promise((resolve) => setTimeout(resolve, challenge.challenge.expires_at * 1000 - Date.now() + 1_500));
  const error = await client
    .request('POST', '/auth/verify', {
      body: { public_key: account.address, challenge_nonce: challenge.challenge.nonce, signature },
      auth: false,
    })
    .catch((reason: unknown) => reason);
  expect(error).toBeInstanceOf(ChallengeExpiredError);
  expect(error).toBeInstanceOf(AuthenticationError);
  expect(error).toMatchObject({ status: 401, code: 'CHALLENGE_EXPIRED' });
});
