//! The shared pieces of the OpenAPI descriptions (feature `openapi`): enumerations read from the
//! domain's own lists, and the JSON of the domain views, which cannot derive `ToSchema`
//! themselves because `domain` stays free of framework crates. The server's tests compare these
//! with what it really sends.

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{self, ObjectBuilder, RefOr, Schema, Type, schema::SchemaFormat},
};

use j0_domain::{
    job::{Capability, JobStatus},
    ledger::{CHECKOUT_AMOUNTS_USD, HistoryType},
    user::IDENTITY_TYPE_ETHEREUM_WALLET,
};

/// A string schema allowing exactly `values`.
pub fn string_enum<I: IntoIterator<Item = S>, S: Into<serde_json::Value>>(values: I) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// Declares a schema type whose schema is built by `$schema`, named as the type.
macro_rules! schema_type {
    ($(#[$doc:meta])* $vis:vis $name:ident = $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        $vis struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T($schema)
            }
        }

        impl ToSchema for $name {}
    };
}

/// Declares a schema type named `$as` in the document.
macro_rules! named_schema_type {
    ($(#[$doc:meta])* $vis:vis $name:ident as $as:literal = $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        $vis struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T($schema)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($as)
            }
        }
    };
}

named_schema_type!(
    /// A model a job requires, from [`Capability::ALL`].
    pub CapabilitySchema as "Capability" =
        string_enum(Capability::ALL.iter().map(|c| c.as_str()))
);
named_schema_type!(
    /// Where a job is, from [`JobStatus::ALL`].
    pub JobStatusSchema as "JobStatus" =
        string_enum(JobStatus::ALL.iter().map(|s| s.as_str()))
);
schema_type!(
    /// What a history row records, from [`HistoryType::ALL`].
    pub TransactionType = string_enum(HistoryType::ALL.iter().map(|t| t.as_str()))
);
schema_type!(
    /// A checkout amount in dollars, from [`CHECKOUT_AMOUNTS_USD`].
    pub AmountUsd = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(openapi::KnownFormat::Int64)))
        .enum_values(Some(CHECKOUT_AMOUNTS_USD))
        .into()
);
schema_type!(
    /// RFC 3339 UTC with whole seconds and a `Z`: `2026-02-13T23:00:00Z`.
    pub Timestamp = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(openapi::KnownFormat::DateTime)))
        .pattern(Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))
        .into()
);
schema_type!(
    /// A wallet address as the server prints it: EIP-55 checksummed.
    pub Address = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(r"^0x[0-9a-fA-F]{40}$"))
        .into()
);
schema_type!(
    /// `ethereum_wallet`.
    pub IdentityTypeSchema = string_enum([IDENTITY_TYPE_ETHEREUM_WALLET])
);
schema_type!(
    /// [`crate::payments::NETWORK_NAME`].
    pub NetworkName = string_enum([crate::payments::NETWORK_NAME])
);
schema_type!(
    /// [`crate::payments::TOKEN_NAME`].
    pub TokenName = string_enum([crate::payments::TOKEN_NAME])
);
schema_type!(
    /// `ok`.
    pub StatusOk = string_enum(["ok"])
);
schema_type!(
    /// `unavailable`.
    pub Unavailable = string_enum(["unavailable"])
);
schema_type!(
    /// `unreachable`.
    pub Unreachable = string_enum(["unreachable"])
);
schema_type!(
    /// `RATE_LIMITED`.
    pub RateLimitedCode = string_enum(["RATE_LIMITED"])
);
schema_type!(
    /// `SERVICE_UNAVAILABLE`.
    pub ServiceUnavailableCode = string_enum(["SERVICE_UNAVAILABLE"])
);

/// A job as one viewer may see it: the JSON of `j0_domain::view::JobView`.
#[derive(Debug, ToSchema)]
#[schema(as = Job)]
#[allow(dead_code, reason = "describes the JSON; never built")]
pub struct JobSchema {
    #[schema(minimum = 1)]
    job_id: i64,
    /// Who posted it.
    #[schema(minimum = 1)]
    requester_id: i64,
    /// Who accepted it; `null` until then.
    #[schema(minimum = 1, required = true)]
    worker_id: Option<i64>,
    capability: CapabilitySchema,
    /// What it pays, in cents.
    #[schema(minimum = 5, maximum = 100)]
    credits: i64,
    /// Seconds the worker has after accepting.
    #[schema(minimum = 10, maximum = 60)]
    timeout_sec: i32,
    status: JobStatusSchema,
    /// The full prompt for the requester and, once accepted, its worker; for anyone else its
    /// first 200 characters.
    #[schema(min_length = 1, max_length = 10240, pattern = r"^[^\u0000]*$")]
    prompt: String,
    /// `true` exactly when `prompt` is shorter than the real prompt.
    prompt_truncated: bool,
    /// The result, shown only to the requester and the worker; `null` otherwise.
    #[schema(
        min_length = 1,
        max_length = 100000,
        pattern = r"^[^\u0000]*$",
        required = true
    )]
    result: Option<String>,
    #[schema(value_type = Timestamp)]
    created_at: String,
    #[schema(value_type = Option<Timestamp>, required = true)]
    accepted_at: Option<String>,
    #[schema(value_type = Option<Timestamp>, required = true)]
    completed_at: Option<String>,
    /// The current deadline: to be accepted while `posted`, to be completed while `accepted`.
    #[schema(value_type = Timestamp)]
    expires_at: String,
}

/// A balance in cents: the JSON of `j0_domain::view::BalanceView`.
#[derive(Debug, ToSchema)]
#[schema(as = Balance)]
#[allow(dead_code, reason = "describes the JSON; never built")]
pub struct BalanceSchema {
    /// Bought or earned credits.
    #[schema(minimum = 0)]
    cash_cents: i64,
    /// Promotional credits, spent first.
    #[schema(minimum = 0)]
    promo_cents: i64,
    /// `cash_cents + promo_cents`.
    #[schema(minimum = 0)]
    total_cents: i64,
}
