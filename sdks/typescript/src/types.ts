/**
 * Public result types of the SDK (camelCase, timestamps as `Date`) and their conversion from the
 * wire format (snake_case JSON, RFC 3339 timestamps).
 */

/** The models a job can ask for. */
export type Capability = 'opus' | 'sonnet' | 'gpt4' | 'gpt4-turbo' | 'dall-e-3';

/** Every capability the API accepts, in the order the API documents them. */
export const CAPABILITIES: readonly Capability[] = ['opus', 'sonnet', 'gpt4', 'gpt4-turbo', 'dall-e-3'];

/** Where a job is in its life: `posted → accepted → completed`, or `cancelled` / `timeout`. */
export type JobStatus = 'posted' | 'accepted' | 'completed' | 'cancelled' | 'timeout';

/** The kind of a credit movement in the history. */
export type TransactionType = 'purchase' | 'job_post' | 'job_earn' | 'job_refund' | 'promo' | 'withdrawal';

/** A job, as the caller may see it. */
export interface Job {
  jobId: number;
  /** Who posted it. */
  requesterId: number;
  /** Who accepted it; `null` until then. */
  workerId: number | null;
  capability: Capability;
  /** What it pays, in cents (1 credit = 1 cent). */
  credits: number;
  /** Seconds the worker has after accepting. */
  timeoutSec: number;
  status: JobStatus;
  /**
   * The full prompt for the requester and, once accepted, its worker; for anyone else its first
   * 200 characters.
   */
  prompt: string;
  /** `true` exactly when `prompt` is shorter than the real prompt. */
  promptTruncated: boolean;
  /** The result, shown only to the requester and the worker; `null` otherwise. */
  result: string | null;
  createdAt: Date;
  acceptedAt: Date | null;
  completedAt: Date | null;
  /** The current deadline: to be accepted while `posted`, to be completed while `accepted`. */
  expiresAt: Date;
}

/** A completed job as its worker receives it in a `job.completed` event. */
export interface EarnedJob extends Job {
  /** Present on the worker's copy only: `floor(credits * 9 / 10)`. */
  creditsEarned?: number;
}

/** The signed-in user as they see themselves (`GET /users/me`). */
export interface User {
  id: number;
  /** EIP-55 checksummed wallet address. */
  publicKey: string;
  identityType: 'ethereum_wallet';
  /** Completed ÷ (completed + timed out after accepting), 0 before any. */
  reputationScore: number;
  createdAt: Date;
}

/** What anyone may see of a user (`GET /users/:id`). */
export interface PublicUser {
  id: number;
  /** EIP-55 checksummed wallet address. */
  publicKey: string;
  reputationScore: number;
  createdAt: Date;
}

/** A balance in cents. */
export interface Balance {
  /** Bought or earned credits. */
  cashCents: number;
  /** Promotional credits, spent first. */
  promoCents: number;
  /** `cashCents + promoCents`. */
  totalCents: number;
}

/** One movement of the user's credits. */
export interface Transaction {
  id: number;
  userId: number;
  /** Signed cents: negative for `job_post`. */
  amountCents: number;
  type: TransactionType;
  /** For example `Posted job #456`, `Completed job #455`, `Refund for job #456 (timeout)`. */
  description: string;
  createdAt: Date;
}

/** The caller's own USDC deposit address on Base. */
export interface DepositAddress {
  /** Unique to the caller (EIP-55). */
  address: string;
  network: 'Base L2';
  chainId: number;
  token: 'USDC';
  /** The USDC contract that counts (EIP-55). */
  tokenContract: string;
  /** Blocks on top of a transfer before it is credited. */
  minConfirmations: number;
}

/** The answer to {@link J0Client.completeJob}. */
export interface CompletedJob {
  job: Job;
  /** `floor(credits * 9 / 10)`, paid into the worker's cash. */
  creditsEarned: number;
}

/** The answer to {@link J0Client.cancelJob}. */
export interface CancelledJob {
  job: Job;
  /** Exactly what was taken when the job was posted. */
  creditsRefunded: number;
}

/** The answer to {@link J0Client.buyCredits}. */
export interface Checkout {
  /** The Stripe Checkout page to send the user to. */
  checkoutUrl: string;
}

/** The wire shapes, exactly as the server sends them. */
export interface WireJob {
  job_id: number;
  requester_id: number;
  worker_id: number | null;
  capability: Capability;
  credits: number;
  timeout_sec: number;
  status: JobStatus;
  prompt: string;
  prompt_truncated: boolean;
  result: string | null;
  created_at: string;
  accepted_at: string | null;
  completed_at: string | null;
  expires_at: string;
  credits_earned?: number;
}

export interface WireUser {
  id: number;
  public_key: string;
  identity_type: 'ethereum_wallet';
  reputation_score: number;
  created_at: string;
}

export interface WirePublicUser {
  id: number;
  public_key: string;
  reputation_score: number;
  created_at: string;
}

export interface WireBalance {
  cash_cents: number;
  promo_cents: number;
  total_cents: number;
}

export interface WireTransaction {
  id: number;
  user_id: number;
  amount_cents: number;
  type: TransactionType;
  description: string;
  created_at: string;
}

export interface WireDepositAddress {
  address: string;
  network: 'Base L2';
  chain_id: number;
  token: 'USDC';
  token_contract: string;
  min_confirmations: number;
}

export interface WireChallenge {
  challenge: { nonce: string; timestamp: number; expires_at: number };
  message_to_sign: string;
}

export interface WireVerify {
  token: string;
  expires_at: number;
  user: WireUser;
}

function date(value: string): Date {
  return new Date(value);
}

function dateOrNull(value: string | null): Date | null {
  return value === null ? null : new Date(value);
}

/** Converts a wire job into a {@link Job}. */
export function toJob(w: WireJob): Job {
  return {
    jobId: w.job_id,
    requesterId: w.requester_id,
    workerId: w.worker_id,
    capability: w.capability,
    credits: w.credits,
    timeoutSec: w.timeout_sec,
    status: w.status,
    prompt: w.prompt,
    promptTruncated: w.prompt_truncated,
    result: w.result,
    createdAt: date(w.created_at),
    acceptedAt: dateOrNull(w.accepted_at),
    completedAt: dateOrNull(w.completed_at),
    expiresAt: date(w.expires_at),
  };
}

/** Converts a wire job that may carry `credits_earned` into an {@link EarnedJob}. */
export function toEarnedJob(w: WireJob): EarnedJob {
  const job: EarnedJob = toJob(w);
  if (w.credits_earned !== undefined) job.creditsEarned = w.credits_earned;
  return job;
}

/** Converts a wire user into a {@link User}. */
export function toUser(w: WireUser): User {
  return {
    id: w.id,
    publicKey: w.public_key,
    identityType: w.identity_type,
    reputationScore: w.reputation_score,
    createdAt: date(w.created_at),
  };
}

/** Converts a wire public user into a {@link PublicUser}. */
export function toPublicUser(w: WirePublicUser): PublicUser {
  return {
    id: w.id,
    publicKey: w.public_key,
    reputationScore: w.reputation_score,
    createdAt: date(w.created_at),
  };
}

/** Converts a wire balance into a {@link Balance}. */
export function toBalance(w: WireBalance): Balance {
  return { cashCents: w.cash_cents, promoCents: w.promo_cents, totalCents: w.total_cents };
}

/** Converts a wire history row into a {@link Transaction}. */
export function toTransaction(w: WireTransaction): Transaction {
  return {
    id: w.id,
    userId: w.user_id,
    amountCents: w.amount_cents,
    type: w.type,
    description: w.description,
    createdAt: date(w.created_at),
  };
}

/** Converts a wire deposit address into a {@link DepositAddress}. */
export function toDepositAddress(w: WireDepositAddress): DepositAddress {
  return {
    address: w.address,
    network: w.network,
    chainId: w.chain_id,
    token: w.token,
    tokenContract: w.token_contract,
    minConfirmations: w.min_confirmations,
  };
}
