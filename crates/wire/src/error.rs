//! The error answer every refusal carries.

use serde::{Deserialize, Serialize};

/// `{"error": "<human message>", "code": "<UPPER_SNAKE>"}`; a 429 adds `retry_after`.
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
