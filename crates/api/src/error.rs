//! The one error type of the HTTP edge: every failure becomes `{"error", "code"}` with the
//! contract's status, translated here once from the use cases' errors.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;

use j0_app::{ChallengeError, VerifyError};
use j0_domain::{
    auth::ChallengeRefusal,
    job::{AcceptRefusal, CancelRefusal, CompleteRefusal, FieldError},
};
use j0_ports::{AcceptError, CancelError, CompleteError, ErrorChain, PostError, StoreError};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `RATE_LIMITED`, to be retried after `seconds` (≥ 1), in the body and `Retry-After`.
    pub fn rate_limited(seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "Rate limit exceeded",
            )
        }
    }

    /// Seconds to wait, for 429 answers.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// 400 `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Authentication required",
        )
    }

    /// 404 with a resource's `*_NOT_FOUND` code.
    pub fn not_found(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 413 `PAYLOAD_TOO_LARGE`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("Request body is larger than {limit} bytes"),
        )
    }

    /// 500 with a fixed message; the cause is logged here, once, and never sent.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %ErrorChain(cause), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal server error",
        )
    }

    /// 503 while the database is out of reach.
    pub fn unavailable(cause: &dyn std::error::Error) -> Self {
        tracing::warn!(error = %ErrorChain(cause), "storage unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "Service temporarily unavailable",
        )
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
        }
        response.json(Body {
            error: &self.message,
            code: self.code,
            retry_after: self.retry_after,
        })
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
            ChallengeRefusal::NotFound => "CHALLENGE_NOT_FOUND",
            ChallengeRefusal::Used => "CHALLENGE_USED",
            ChallengeRefusal::Expired => "CHALLENGE_EXPIRED",
        };
        Self::new(StatusCode::UNAUTHORIZED, code, e.to_string())
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Challenge(refusal) => refusal.into(),
            VerifyError::InvalidSignature => Self::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_SIGNATURE",
                "Invalid signature",
            ),
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

fn job_not_found() -> ApiError {
    ApiError::not_found("JOB_NOT_FOUND", "Job not found")
}

impl From<PostError> for ApiError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::SignedOut => Self::unauthorized(),
            PostError::Insufficient(e) => Self::new(
                StatusCode::BAD_REQUEST,
                "INSUFFICIENT_CREDITS",
                e.to_string(),
            ),
            PostError::KeyReused(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "IDEMPOTENCY_KEY_REUSED",
                e.to_string(),
            ),
            PostError::Store(e) => e.into(),
        }
    }
}

impl From<AcceptError> for ApiError {
    fn from(e: AcceptError) -> Self {
        match e {
            AcceptError::SignedOut => Self::unauthorized(),
            AcceptError::NotFound => job_not_found(),
            AcceptError::Refused(r) => {
                let (status, code) = match r {
                    AcceptRefusal::OwnJob => (StatusCode::FORBIDDEN, "OWN_JOB"),
                    AcceptRefusal::AlreadyAccepted => {
                        (StatusCode::BAD_REQUEST, "JOB_ALREADY_ACCEPTED")
                    }
                    AcceptRefusal::Expired => (StatusCode::BAD_REQUEST, "JOB_EXPIRED"),
                    AcceptRefusal::NotAvailable => (StatusCode::BAD_REQUEST, "JOB_NOT_AVAILABLE"),
                    AcceptRefusal::TooManyOpenJobs { .. } => {
                        (StatusCode::BAD_REQUEST, "TOO_MANY_OPEN_JOBS")
                    }
                };
                Self::new(status, code, r.to_string())
            }
            AcceptError::Store(e) => e.into(),
        }
    }
}

impl From<CompleteError> for ApiError {
    fn from(e: CompleteError) -> Self {
        match e {
            CompleteError::SignedOut => Self::unauthorized(),
            CompleteError::NotFound => job_not_found(),
            CompleteError::Refused(r) => {
                let (status, code) = match r {
                    CompleteRefusal::NotAccepted => (StatusCode::BAD_REQUEST, "JOB_NOT_ACCEPTED"),
                    CompleteRefusal::NotTheWorker => (StatusCode::FORBIDDEN, "NOT_THE_WORKER"),
                    CompleteRefusal::TimeoutExpired => (StatusCode::BAD_REQUEST, "TIMEOUT_EXPIRED"),
                };
                Self::new(status, code, r.to_string())
            }
            CompleteError::Store(e) => e.into(),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound => job_not_found(),
            CancelError::Refused(r) => {
                let (status, code) = match r {
                    CancelRefusal::NotTheRequester => (StatusCode::FORBIDDEN, "NOT_THE_REQUESTER"),
                    CancelRefusal::AlreadyAccepted => {
                        (StatusCode::BAD_REQUEST, "JOB_ALREADY_ACCEPTED")
                    }
                    CancelRefusal::NotAvailable => (StatusCode::BAD_REQUEST, "JOB_NOT_AVAILABLE"),
                };
                Self::new(status, code, r.to_string())
            }
            CancelError::Store(e) => e.into(),
        }
    }
}
