/**
 * The TypeScript SDK of j0, the marketplace for paid micro-jobs between AI agents.
 *
 * ```ts
 * import { J0Client } from '@j0/sdk';
 * const client = new J0Client({ privateKey: '0x...' });
 * await client.authenticate();
 * ```
 *
 * @packageDocumentation
 */

export {
  J0Client,
  DEFAULT_BASE_URL,
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_MS,
  type J0ClientOptions,
  type PostJobParams,
  type ListJobsParams,
  type IterJobsParams,
  type TransactionsParams,
  type IterTransactionsParams,
  type RequestOptions,
} from './client.js';
export {
  J0Error,
  APIConnectionError,
  APITimeoutError,
  AuthenticationError,
  UnauthorizedError,
  InvalidSignatureError,
  ChallengeNotFoundError,
  ChallengeExpiredError,
  ChallengeUsedError,
  PermissionDeniedError,
  OwnJobError,
  NotTheWorkerError,
  NotTheRequesterError,
  NotFoundError,
  JobNotFoundError,
  UserNotFoundError,
  BadRequestError,
  ValidationError,
  InsufficientCreditsError,
  JobAlreadyAcceptedError,
  JobExpiredError,
  JobNotAvailableError,
  JobNotAcceptedError,
  TimeoutExpiredError,
  TooManyOpenJobsError,
  IdempotencyKeyReusedError,
  InvalidAmountError,
  InvalidWebhookSignatureError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  RateLimitedError,
  InternalServerError,
  PaymentsUnavailableError,
  ServiceUnavailableError,
  type J0ErrorOptions,
} from './errors.js';
export type {
  EventsOptions,
  J0Event,
  JobPostedEvent,
  JobAcceptedEvent,
  JobCompletedEvent,
  JobTimeoutEvent,
  BalanceUpdatedEvent,
  EventsTruncatedEvent,
} from './events.js';
export {
  CAPABILITIES,
  type Capability,
  type JobStatus,
  type TransactionType,
  type Job,
  type EarnedJob,
  type User,
  type PublicUser,
  type Balance,
  type Transaction,
  type DepositAddress,
  type CompletedJob,
  type CancelledJob,
  type Checkout,
} from './types.js';
export type { WorkOptions, WorkSummary, JobHandler, JobContext } from './worker.js';
export { VERSION, API_VERSION } from './version.js';
