//! The handlers, one module per area of the contract; a handler's OpenAPI tag is its module's
//! name. What each operation can refuse is declared here, in one table.

use actix_web::{HttpResponse, web};

use crate::{ApiState, error::ApiError, openapi::refusals};

pub(crate) mod auth;
pub(crate) mod credits;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod payments;
pub(crate) mod users;

/// The shared state, as a handler takes it.
pub(crate) type State = web::Data<ApiState>;

/// A handler's answer: the response, or an error in the envelope.
pub(crate) type Reply = Result<HttpResponse, ApiError>;

refusals! {
    /// What `POST /auth/challenge` refuses with.
    ChallengeRefusals = [
        ValidationError, PayloadTooLarge, UnsupportedMediaType, ServiceUnavailable,
    ];
    /// What `POST /auth/verify` refuses with.
    VerifyRefusals = [
        ValidationError, InvalidSignature, ChallengeNotFound, ChallengeExpired, ChallengeUsed,
        PayloadTooLarge, UnsupportedMediaType, ServiceUnavailable,
    ];
    /// What `POST /auth/logout` refuses with.
    LogoutRefusals = [Unauthorized, PayloadTooLarge, ServiceUnavailable];
    /// What `GET /users/me` refuses with.
    MeRefusals = [Unauthorized, ServiceUnavailable];
    /// What `GET /users/{id}` refuses with.
    UserRefusals = [ValidationError, UserNotFound, ServiceUnavailable];
    /// What `GET /credits/balance` refuses with.
    BalanceRefusals = [Unauthorized, ServiceUnavailable];
    /// What `GET /credits/transactions` refuses with.
    HistoryRefusals = [ValidationError, Unauthorized, ServiceUnavailable];
    /// What `POST /jobs` refuses with.
    PostRefusals = [
        ValidationError, InsufficientCredits, IdempotencyKeyReused, Unauthorized,
        PayloadTooLarge, UnsupportedMediaType, ServiceUnavailable,
    ];
    /// What `GET /jobs` refuses with.
    ListRefusals = [ValidationError, Unauthorized, ServiceUnavailable];
    /// What `GET /jobs/{id}` refuses with.
    GetRefusals = [ValidationError, Unauthorized, JobNotFound, ServiceUnavailable];
    /// What `POST /jobs/{id}/accept` refuses with.
    AcceptRefusals = [
        ValidationError, JobAlreadyAccepted, JobExpired, JobNotAvailable, TooManyOpenJobs,
        Unauthorized, OwnJob, JobNotFound, PayloadTooLarge, ServiceUnavailable,
    ];
    /// What `POST /jobs/{id}/complete` refuses with.
    CompleteRefusals = [
        ValidationError, JobNotAccepted, TimeoutExpired, Unauthorized, NotTheWorker,
        JobNotFound, PayloadTooLarge, UnsupportedMediaType, ServiceUnavailable,
    ];
    /// What `POST /jobs/{id}/cancel` refuses with.
    CancelRefusals = [
        ValidationError, JobAlreadyAccepted, JobNotAvailable, Unauthorized, NotTheRequester,
        JobNotFound, PayloadTooLarge, ServiceUnavailable,
    ];
    /// What `POST /payments/stripe/checkout` refuses with.
    CheckoutRefusals = [
        ValidationError, InvalidAmount, Unauthorized, PayloadTooLarge, UnsupportedMediaType,
        PaymentsUnavailable, ServiceUnavailable,
    ];
    /// What `POST /payments/stripe/webhook` refuses with.
    WebhookRefusals = [
        InvalidWebhookSignature, ValidationError, PayloadTooLarge, PaymentsUnavailable,
        ServiceUnavailable,
    ];
    /// What `GET /payments/usdc/address` refuses with.
    DepositRefusals = [Unauthorized, ServiceUnavailable];
}
