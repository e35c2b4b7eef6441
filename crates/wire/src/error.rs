//! The error answer every refusal carries, and the one list of its codes.
//!
//! [`ErrorCode`] is the contract's table of refusals (contract §1, docs/api.md §11): each code's
//! HTTP status, the message it carries when nothing more specific is said, and what it means.
//! The server builds every error answer from it, its OpenAPI document lists each operation's
//! codes from it, and the Rust client reads refusals back with it, so a code is spelled once.

use serde::{Deserialize, Serialize};

/// `{"error": "<human message>", "code": "<UPPER_SNAKE>"}`; a 429 adds `retry_after`.
///
/// `code` stays a string so that a client reads a code newer than itself too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// For humans; may change.
    pub error: String,
    /// `UPPER_SNAKE`; part of the contract.
    pub code: String,
    /// Whole seconds to wait, on a 429 (the same as the `Retry-After` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// Declares [`ErrorCode`] from one table: variant, code, status, default message, meaning.
macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:literal, $message:literal, $meaning:literal;)+) => {
        /// A refusal the API can answer with, as its `code` names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $code, "` (", stringify!($status), "): ", $meaning, ".")]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in the contract's order (by status).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as the contract spells it, `UPPER_SNAKE`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The HTTP status every answer with this code has.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                }
            }

            /// The message an answer carries when the server says nothing more specific (the
            /// domain's refusals carry their own, and some messages name a field or a limit).
            pub const fn message(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $message,)+
                }
            }

            /// When the server answers with this code, for the API reference.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)+
                }
            }
        }
    };
}

error_codes! {
    ValidationError = "VALIDATION_ERROR", 400, "Invalid request",
        "malformed JSON, a wrong type, an unknown or missing field, a value out of range, or a \
         bad path id, query parameter or header; the message names the field";
    InsufficientCredits = "INSUFFICIENT_CREDITS", 400, "Insufficient credits",
        "`Insufficient credits: have <total_cents>, need <credits>`";
    IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED", 400,
        "Idempotency-Key was already used with a different request",
        "this `Idempotency-Key` was used in the last 24 h with a different body";
    JobAlreadyAccepted = "JOB_ALREADY_ACCEPTED", 400, "Job already accepted by another worker",
        "the job is `accepted` or `completed`";
    JobExpired = "JOB_EXPIRED", 400, "Job timeout expired",
        "the job timed out, or its acceptance window has passed";
    JobNotAvailable = "JOB_NOT_AVAILABLE", 400, "Job is no longer available",
        "the job is `cancelled`, `timeout`, or past its acceptance window";
    JobNotAccepted = "JOB_NOT_ACCEPTED", 400, "Job is not accepted",
        "the job was never accepted, or is already completed";
    TimeoutExpired = "TIMEOUT_EXPIRED", 400, "Job timeout expired",
        "the worker's time ran out";
    TooManyOpenJobs = "TOO_MANY_OPEN_JOBS", 400, "Too many open jobs",
        "the caller already holds `J0_MAX_OPEN_JOBS_PER_WORKER` unexpired accepted jobs \
         (default 10); checked after every other rule, and nothing changed";
    InvalidAmount = "INVALID_AMOUNT", 400, "amount_usd must be one of 5, 10, 20, 50, 100",
        "`amount_usd` is not one of 5, 10, 20, 50, 100";
    InvalidWebhookSignature = "INVALID_WEBHOOK_SIGNATURE", 400, "Invalid webhook signature",
        "`Stripe-Signature` is missing, wrong or outside the 5-minute tolerance; nothing changed";
    Unauthorized = "UNAUTHORIZED", 401, "Authentication required",
        "missing, malformed, expired, revoked or tampered token";
    InvalidSignature = "INVALID_SIGNATURE", 401, "Invalid signature",
        "the signature is malformed or not by `public_key`";
    ChallengeNotFound = "CHALLENGE_NOT_FOUND", 401, "Challenge not found",
        "no such nonce, or a nonce issued to another address";
    ChallengeExpired = "CHALLENGE_EXPIRED", 401, "Challenge expired",
        "the challenge is older than 60 s";
    ChallengeUsed = "CHALLENGE_USED", 401, "Challenge already used",
        "the challenge was already exchanged for a token";
    OwnJob = "OWN_JOB", 403, "Cannot accept your own job",
        "the caller posted this job";
    NotTheWorker = "NOT_THE_WORKER", 403, "Only the accepting worker can submit a result",
        "the caller did not accept this job";
    NotTheRequester = "NOT_THE_REQUESTER", 403, "Only the requester can cancel a job",
        "the caller did not post this job";
    JobNotFound = "JOB_NOT_FOUND", 404, "Job not found",
        "no job has this id";
    UserNotFound = "USER_NOT_FOUND", 404, "User not found",
        "no user has this id";
    NotFound = "NOT_FOUND", 404, "Not found",
        "no route has this path";
    MethodNotAllowed = "METHOD_NOT_ALLOWED", 405, "Method not allowed",
        "the path does not serve this method; `Allow` lists the methods it does";
    PayloadTooLarge = "PAYLOAD_TOO_LARGE", 413, "Request body is too large",
        "the body is over the route's limit";
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE", 415, "Content-Type must be application/json",
        "`Content-Type` is not `application/json`";
    RateLimited = "RATE_LIMITED", 429, "Rate limit exceeded",
        "too many requests from this IP or user; retry after `retry_after` seconds";
    InternalError = "INTERNAL_ERROR", 500, "Internal server error",
        "an unexpected failure; the cause is logged, never sent";
    ServiceUnavailable = "SERVICE_UNAVAILABLE", 503, "Service temporarily unavailable",
        "the database is out of reach; retry later";
    PaymentsUnavailable = "PAYMENTS_UNAVAILABLE", 503, "Payments are temporarily unavailable",
        "Stripe is not configured, unreachable or failing; nothing was recorded";
}

impl ErrorCode {
    /// The code spelled `code`, if the contract has one.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {code:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_snake_unique_and_parse_back() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            let text = code.as_str();
            assert!(
                text.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{text}"
            );
            assert_eq!(ErrorCode::parse(text), Some(*code));
            assert!(
                ErrorCode::ALL[..i]
                    .iter()
                    .all(|other| other.as_str() != text),
                "{text} twice"
            );
            assert!(
                !code.message().is_empty() && !code.meaning().is_empty(),
                "{text}"
            );
        }
        assert_eq!(ErrorCode::parse("TEAPOT"), None);
    }

    #[test]
    fn statuses_are_errors_in_the_contracts_order() {
        let statuses: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.status()).collect();
        assert!(statuses.windows(2).all(|w| w[0] <= w[1]), "{statuses:?}");
        assert!(statuses.iter().all(|s| (400..600).contains(s)));
    }

    /// docs/api.md §11 is the table for humans; it lists the same codes with the same statuses,
    /// in the same order.
    #[test]
    fn the_api_reference_lists_exactly_these_codes() {
        let reference = include_str!("../../../docs/api.md");
        let rows: Vec<(u16, &str)> = reference
            .lines()
            .skip_while(|line| !line.starts_with("## 11. Error codes"))
            .filter_map(|line| {
                let mut cells = line.split('|').map(str::trim).skip(1);
                let status = cells.next()?.parse().ok()?;
                let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                Some((status, code))
            })
            .collect();
        let table: Vec<(u16, &str)> = ErrorCode::ALL
            .iter()
            .map(|c| (c.status(), c.as_str()))
            .collect();
        assert_eq!(rows, table);
    }

    #[test]
    fn serializes_as_its_code() {
        let json = serde_json::to_string(&ErrorCode::JobNotFound).unwrap();
        assert_eq!(json, r#""JOB_NOT_FOUND""#);
        assert_eq!(
            serde_json::from_str::<ErrorCode>(&json).unwrap(),
            ErrorCode::JobNotFound
        );
        assert!(serde_json::from_str::<ErrorCode>(r#""TEAPOT""#).is_err());
    }
}
