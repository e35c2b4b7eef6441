//! The one error type of the HTTP edge: every failure becomes `{"error", "code"}` with the
//! contract's status, translated here once from the use cases' errors.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use j0_app::{ChallengeError, VerifyError};
use j0_domain::{
    auth::ChallengeRefusal,
    job::{AcceptRefusal, CancelRefusal, CompleteRefusal, FieldError},
};
use j0_ports::{ErrorChain, JobActionError, PostError, StoreError};
pub use j0_wire::error::ErrorCode;

/// An error answer: a code of the contract's table, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    retry_after: Option<u64>,
}

/// The error answer: a human message and a machine-readable code.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorAnswer<'a> {
    /// For humans; may change.
    error: &'a str,
    /// `UPPER_SNAKE`; part of the contract. Each response lists the codes it can carry.
    #[schema(value_type = String)]
    code: ErrorCode,
}

/// 429: the client sent too many requests.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RateLimited)]
pub(crate) struct RateLimitedAnswer<'a> {
    /// `Rate limit exceeded`.
    error: &'a str,
    #[schema(inline, value_type = j0_wire::schema::RateLimitedCode)]
    code: ErrorCode,
    /// Whole seconds to wait, the same as the `Retry-After` header.
    #[schema(minimum = 1)]
    retry_after: u64,
}

impl ApiError {
    /// An answer with `code` and the code's own message.
    pub fn new(code: ErrorCode) -> Self {
        Self::with_message(code, code.message())
    }

    /// An answer with `code` and a message that says more than the code's own.
    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `RATE_LIMITED`, to be retried after `seconds` (≥ 1), in the body and `Retry-After`.
    pub fn rate_limited(seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..Self::new(ErrorCode::RateLimited)
        }
    }

    /// Seconds to wait, for 429 answers.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// 400 `VALIDATION_ERROR`, the message naming the field first.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::with_message(ErrorCode::ValidationError, message)
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized)
    }

    /// 413 `PAYLOAD_TOO_LARGE`, naming the route's limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::with_message(
            ErrorCode::PayloadTooLarge,
            format!("Request body is larger than {limit} bytes"),
        )
    }

    /// 500 with a fixed message; the cause is logged here, once, and never sent.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %ErrorChain(cause), "request failed");
        Self::new(ErrorCode::InternalError)
    }

    /// 503 while the database is out of reach.
    pub fn unavailable(cause: &dyn std::error::Error) -> Self {
        tracing::warn!(error = %ErrorChain(cause), "storage unavailable");
        Self::new(ErrorCode::ServiceUnavailable)
    }

    /// The machine-readable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

/// The HTTP status of `code`.
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    // Every status of the table is a valid one (a test reads them all); 500 is only the
    // fallback the type system asks for.
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code.status(), self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.code)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self.retry_after {
            Some(seconds) => response
                .insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()))
                .json(RateLimitedAnswer {
                    error: &self.message,
                    code: self.code,
                    retry_after: seconds,
                }),
            None => response.json(ErrorAnswer {
                error: &self.message,
                code: self.code,
            }),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Unavailable(_) => Self::unavailable(&e),
            StoreError::Unknown(_) => Self::internal(&e),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::validation(e.to_string())
    }
}

impl From<ChallengeRefusal> for ApiError {
    fn from(e: ChallengeRefusal) -> Self {
        let code = match e {
            ChallengeRefusal::NotFound => ErrorCode::ChallengeNotFound,
            ChallengeRefusal::Used => ErrorCode::ChallengeUsed,
            ChallengeRefusal::Expired => ErrorCode::ChallengeExpired,
        };
        Self::with_message(code, e.to_string())
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Challenge(refusal) => refusal.into(),
            VerifyError::InvalidSignature => Self::new(ErrorCode::InvalidSignature),
            VerifyError::Store(e) => e.into(),
        }
    }
}

impl From<ChallengeError> for ApiError {
    fn from(e: ChallengeError) -> Self {
        match e {
            ChallengeError::Store(e) => e.into(),
            ChallengeError::Randomness(e) => Self::internal(&e),
        }
    }
}

impl From<PostError> for ApiError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::SignedOut => Self::unauthorized(),
            PostError::Insufficient(e) => {
                Self::with_message(ErrorCode::InsufficientCredits, e.to_string())
            }
            PostError::KeyReused(_) => {
                Self::with_message(ErrorCode::IdempotencyKeyReused, e.to_string())
            }
            PostError::Store(e) => e.into(),
        }
    }
}

/// The code a job rule's refusal is answered with; its message is the refusal's text.
trait RefusalCode: std::fmt::Display {
    fn code(&self) -> ErrorCode;
}

impl RefusalCode for AcceptRefusal {
    fn code(&self) -> ErrorCode {
        match self {
            Self::OwnJob => ErrorCode::OwnJob,
            Self::AlreadyAccepted => ErrorCode::JobAlreadyAccepted,
            Self::Expired => ErrorCode::JobExpired,
            Self::NotAvailable => ErrorCode::JobNotAvailable,
            Self::TooManyOpenJobs { .. } => ErrorCode::TooManyOpenJobs,
        }
    }
}

impl RefusalCode for CompleteRefusal {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotAccepted => ErrorCode::JobNotAccepted,
            Self::NotTheWorker => ErrorCode::NotTheWorker,
            Self::TimeoutExpired => ErrorCode::TimeoutExpired,
        }
    }
}

impl RefusalCode for CancelRefusal {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotTheRequester => ErrorCode::NotTheRequester,
            Self::AlreadyAccepted => ErrorCode::JobAlreadyAccepted,
            Self::NotAvailable => ErrorCode::JobNotAvailable,
        }
    }
}

impl<R: RefusalCode> From<JobActionError<R>> for ApiError {
    fn from(e: JobActionError<R>) -> Self {
        match e {
            JobActionError::SignedOut => Self::unauthorized(),
            JobActionError::NotFound => Self::new(ErrorCode::JobNotFound),
            JobActionError::Refused(r) => Self::with_message(r.code(), r.to_string()),
            JobActionError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_valid_status() {
        for code in ErrorCode::ALL {
            assert_eq!(status_of(*code).as_u16(), code.status(), "{code}");
        }
    }

    #[test]
    fn the_envelope_is_error_and_code_and_a_429_adds_retry_after() {
        let body = |e: &ApiError| {
            let response = e.error_response();
            let bytes = actix_web::body::to_bytes(response.into_body());
            let bytes = futures_util::FutureExt::now_or_never(bytes)
                .unwrap()
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        assert_eq!(
            body(&ApiError::new(ErrorCode::JobNotFound)),
            serde_json::json!({"error": "Job not found", "code": "JOB_NOT_FOUND"})
        );
        let limited = ApiError::rate_limited(3);
        assert_eq!(limited.status_code(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            body(&limited),
            serde_json::json!({"error": "Rate limit exceeded", "code": "RATE_LIMITED", "retry_after": 3})
        );
    }
}
