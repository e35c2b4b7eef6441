//! What can go wrong, as one enum a caller can act on.
//!
//! Every refusal of the API is its own variant, named after the contract's `code`, with the
//! server's message; [`Error::code`] and [`Error::status`] give the contract's code and HTTP
//! status back. Failures to reach the server at all ([`Error::Transport`]) and answers that are
//! not the API's ([`Error::Protocol`]) are kept apart from refusals: the first are worth
//! retrying, the second are bugs.

use j0_wire::error::{ErrorBody, ErrorCode};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401 `UNAUTHORIZED`: no valid session (missing, expired, revoked or tampered token).
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// 401 `INVALID_SIGNATURE`: the challenge's signature does not recover to the address.
    #[error("invalid signature: {message}")]
    InvalidSignature {
        /// The server's message.
        message: String,
    },
    /// 401 `CHALLENGE_NOT_FOUND`, `CHALLENGE_EXPIRED` or `CHALLENGE_USED`: ask for a new one.
    #[error("challenge refused ({code}): {message}")]
    Challenge {
        /// Which of the three.
        code: String,
        /// The server's message.
        message: String,
    },
    /// 403 `OWN_JOB`: a requester cannot accept their own job.
    #[error("own job: {message}")]
    OwnJob {
        /// The server's message.
        message: String,
    },
    /// 403 `NOT_THE_WORKER`: only the job's worker may complete it.
    #[error("not the worker: {message}")]
    NotTheWorker {
        /// The server's message.
        message: String,
    },
    /// 403 `NOT_THE_REQUESTER`: only the job's requester may cancel it.
    #[error("not the requester: {message}")]
    NotTheRequester {
        /// The server's message.
        message: String,
    },
    /// 404 `JOB_NOT_FOUND`, `USER_NOT_FOUND` or `NOT_FOUND`.
    #[error("not found ({code}): {message}")]
    NotFound {
        /// Which resource was missing.
        code: String,
        /// The server's message.
        message: String,
    },
    /// 400 `VALIDATION_ERROR`: the message names the field and the rule it breaks. Also
    /// returned, with no request sent, for input the client can tell is invalid.
    #[error("validation: {message}")]
    Validation {
        /// What was wrong.
        message: String,
    },
    /// 400 `INSUFFICIENT_CREDITS`: the balance (`have`, promo and cash) is below `need`.
    #[error("insufficient credits: have {have}, need {need}")]
    InsufficientCredits {
        /// The caller's total balance in cents.
        have: i64,
        /// What the job costs.
        need: i64,
        /// The server's message.
        message: String,
    },
    /// 400 `JOB_ALREADY_ACCEPTED`: another worker was first (or, on cancel, it is too late).
    #[error("job already accepted: {message}")]
    JobAlreadyAccepted {
        /// The server's message.
        message: String,
    },
    /// 400 `JOB_EXPIRED`: nobody accepted it in time; it is (or will be) refunded.
    #[error("job expired: {message}")]
    JobExpired {
        /// The server's message.
        message: String,
    },
    /// 400 `JOB_NOT_AVAILABLE`: cancelled or otherwise gone.
    #[error("job not available: {message}")]
    JobNotAvailable {
        /// The server's message.
        message: String,
    },
    /// 400 `JOB_NOT_ACCEPTED`: the job is not in the `accepted` state.
    #[error("job not accepted: {message}")]
    JobNotAccepted {
        /// The server's message.
        message: String,
    },
    /// 400 `TIMEOUT_EXPIRED`: the result came after the job's deadline.
    #[error("timeout expired: {message}")]
    TimeoutExpired {
        /// The server's message.
        message: String,
    },
    /// 400 `TOO_MANY_OPEN_JOBS`: this worker already holds as many accepted jobs as allowed.
    #[error("too many open jobs: {message}")]
    TooManyOpenJobs {
        /// The server's message.
        message: String,
    },
    /// 400 `IDEMPOTENCY_KEY_REUSED`: the key was used with a different body.
    #[error("idempotency key reused: {message}")]
    IdempotencyKeyReused {
        /// The server's message.
        message: String,
    },
    /// 400 `INVALID_AMOUNT`: a checkout amount outside 5, 10, 20, 50, 100 dollars.
    #[error("invalid amount: {message}")]
    InvalidAmount {
        /// The server's message.
        message: String,
    },
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("payload too large: {message}")]
    PayloadTooLarge {
        /// The server's message.
        message: String,
    },
    /// 429 `RATE_LIMITED`, after the retries (if any) ran out.
    #[error("rate limited: retry after {retry_after} s")]
    RateLimited {
        /// Whole seconds to wait.
        retry_after: u64,
        /// The server's message.
        message: String,
    },
    /// 503 `PAYMENTS_UNAVAILABLE`: card payments are not configured or Stripe failed.
    #[error("payments unavailable: {message}")]
    PaymentsUnavailable {
        /// The server's message.
        message: String,
    },
    /// 503 `SERVICE_UNAVAILABLE`: the server cannot reach its database.
    #[error("service unavailable: {message}")]
    ServiceUnavailable {
        /// The server's message.
        message: String,
    },
    /// Any other refusal (`INTERNAL_ERROR`, `METHOD_NOT_ALLOWED`, a code this client does not
    /// know yet, …).
    #[error("{status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The contract's code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server could not be reached, or the connection broke before an answer arrived.
    #[error("transport: {0}")]
    Transport(#[source] reqwest::Error),
    /// The WebSocket could not be opened or broke.
    #[error("websocket: {0}")]
    WebSocket(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The server answered something that is not j0's API (wrong shape, not JSON).
    #[error("unexpected answer (HTTP {status}): {message}")]
    Protocol {
        /// The HTTP status, 0 for WebSocket messages.
        status: u16,
        /// What could not be read.
        message: String,
    },
    /// The client is misconfigured: a bad private key or URL, or no way to sign in.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The refusal the server answered with `status` and `body` (`retry_after_header` from the
    /// `Retry-After` header, used when the body has none).
    pub fn from_api(status: u16, body: ErrorBody, retry_after_header: Option<u64>) -> Self {
        let ErrorBody {
            error: message,
            code,
            retry_after,
        } = body;
        let Some(known) = ErrorCode::parse(&code) else {
            return Error::Api {
                status,
                code,
                message,
            };
        };
        match known {
            ErrorCode::Unauthorized => Error::Unauthorized { message },
            ErrorCode::InvalidSignature => Error::InvalidSignature { message },
            ErrorCode::ChallengeNotFound
            | ErrorCode::ChallengeExpired
            | ErrorCode::ChallengeUsed => Error::Challenge { code, message },
            ErrorCode::OwnJob => Error::OwnJob { message },
            ErrorCode::NotTheWorker => Error::NotTheWorker { message },
            ErrorCode::NotTheRequester => Error::NotTheRequester { message },
            ErrorCode::JobNotFound | ErrorCode::UserNotFound | ErrorCode::NotFound => {
                Error::NotFound { code, message }
            }
            ErrorCode::ValidationError => Error::Validation { message },
            ErrorCode::InsufficientCredits => {
                let (have, need) = have_and_need(&message).unwrap_or((0, 0));
                Error::InsufficientCredits {
                    have,
                    need,
                    message,
                }
            }
            ErrorCode::JobAlreadyAccepted => Error::JobAlreadyAccepted { message },
            ErrorCode::JobExpired => Error::JobExpired { message },
            ErrorCode::JobNotAvailable => Error::JobNotAvailable { message },
            ErrorCode::JobNotAccepted => Error::JobNotAccepted { message },
            ErrorCode::TimeoutExpired => Error::TimeoutExpired { message },
            ErrorCode::TooManyOpenJobs => Error::TooManyOpenJobs { message },
            ErrorCode::IdempotencyKeyReused => Error::IdempotencyKeyReused { message },
            ErrorCode::InvalidAmount => Error::InvalidAmount { message },
            ErrorCode::PayloadTooLarge => Error::PayloadTooLarge { message },
            ErrorCode::RateLimited => Error::RateLimited {
                retry_after: retry_after.or(retry_after_header).unwrap_or(1).max(1),
                message,
            },
            ErrorCode::PaymentsUnavailable => Error::PaymentsUnavailable { message },
            ErrorCode::ServiceUnavailable => Error::ServiceUnavailable { message },
            ErrorCode::InvalidWebhookSignature
            | ErrorCode::MethodNotAllowed
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::InternalError => Error::Api {
                status,
                code,
                message,
            },
        }
    }

    /// The code a refusal's own variant stands for; `None` for the variants that carry their
    /// code ([`Error::Challenge`], [`Error::NotFound`], [`Error::Api`]) and for failures that
    /// are not refusals.
    fn variant_code(&self) -> Option<ErrorCode> {
        Some(match self {
            Error::Unauthorized { .. } => ErrorCode::Unauthorized,
            Error::InvalidSignature { .. } => ErrorCode::InvalidSignature,
            Error::OwnJob { .. } => ErrorCode::OwnJob,
            Error::NotTheWorker { .. } => ErrorCode::NotTheWorker,
            Error::NotTheRequester { .. } => ErrorCode::NotTheRequester,
            Error::Validation { .. } => ErrorCode::ValidationError,
            Error::InsufficientCredits { .. } => ErrorCode::InsufficientCredits,
            Error::JobAlreadyAccepted { .. } => ErrorCode::JobAlreadyAccepted,
            Error::JobExpired { .. } => ErrorCode::JobExpired,
            Error::JobNotAvailable { .. } => ErrorCode::JobNotAvailable,
            Error::JobNotAccepted { .. } => ErrorCode::JobNotAccepted,
            Error::TimeoutExpired { .. } => ErrorCode::TimeoutExpired,
            Error::TooManyOpenJobs { .. } => ErrorCode::TooManyOpenJobs,
            Error::IdempotencyKeyReused { .. } => ErrorCode::IdempotencyKeyReused,
            Error::InvalidAmount { .. } => ErrorCode::InvalidAmount,
            Error::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Error::RateLimited { .. } => ErrorCode::RateLimited,
            Error::PaymentsUnavailable { .. } => ErrorCode::PaymentsUnavailable,
            Error::ServiceUnavailable { .. } => ErrorCode::ServiceUnavailable,
            Error::Challenge { .. }
            | Error::NotFound { .. }
            | Error::Api { .. }
            | Error::Transport(_)
            | Error::WebSocket(_)
            | Error::Protocol { .. }
            | Error::Config(_) => return None,
        })
    }

    /// The contract's `code`, for refusals by the server (and [`Error::Validation`] made by
    /// the client); `None` for transport, protocol and configuration failures.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Challenge { code, .. }
            | Error::NotFound { code, .. }
            | Error::Api { code, .. } => Some(code),
            other => other.variant_code().map(ErrorCode::as_str),
        }
    }

    /// The HTTP status the server answered with; `None` when no answer came (or, for
    /// [`Error::Validation`], when the client refused before sending).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Challenge { .. } => Some(ErrorCode::ChallengeNotFound.status()),
            Error::NotFound { .. } => Some(ErrorCode::NotFound.status()),
            Error::Api { status, .. } => Some(*status),
            Error::Protocol { status, .. } if *status != 0 => Some(*status),
            other => other.variant_code().map(ErrorCode::status),
        }
    }

    /// Whether trying the same request again may succeed: transport failures, 5xx and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport(_) | Error::RateLimited { .. } => true,
            other => other.status().is_some_and(|s| s >= 500),
        }
    }

    /// The client's own refusal of input it need not send.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::Validation {
            message: message.into(),
        }
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for Error {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Error::WebSocket(Box::new(e))
    }
}

/// `have` and `need` from `"Insufficient credits: have 5, need 10"`.
fn have_and_need(message: &str) -> Option<(i64, i64)> {
    let rest = message.split("have ").nth(1)?;
    let (have, rest) = rest.split_once(", need ")?;
    let need: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((have.trim().parse().ok()?, need.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str, error: &str) -> ErrorBody {
        ErrorBody {
            error: error.to_owned(),
            code: code.to_owned(),
            retry_after: None,
        }
    }

    #[test]
    fn insufficient_credits_carries_have_and_need() {
        let e = Error::from_api(
            400,
            body(
                "INSUFFICIENT_CREDITS",
                "Insufficient credits: have 5, need 10",
            ),
            None,
        );
        assert!(matches!(
            e,
            Error::InsufficientCredits {
                have: 5,
                need: 10,
                ..
            }
        ));
        assert_eq!(
            (e.code(), e.status()),
            (Some("INSUFFICIENT_CREDITS"), Some(400))
        );
    }

    #[test]
    fn rate_limited_takes_the_body_then_the_header() {
        let mut b = body("RATE_LIMITED", "Rate limit exceeded");
        assert!(matches!(
            Error::from_api(429, b.clone(), Some(7)),
            Error::RateLimited { retry_after: 7, .. }
        ));
        b.retry_after = Some(3);
        assert!(matches!(
            Error::from_api(429, b, Some(7)),
            Error::RateLimited { retry_after: 3, .. }
        ));
    }

    #[test]
    fn unknown_codes_keep_status_and_code() {
        let e = Error::from_api(418, body("TEAPOT", "short and stout"), None);
        assert_eq!((e.code(), e.status()), (Some("TEAPOT"), Some(418)));
        assert!(!e.is_retryable());
        let e = Error::from_api(500, body("INTERNAL_ERROR", "Internal server error"), None);
        assert!(e.is_retryable());
    }
}
