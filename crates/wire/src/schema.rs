//! The pieces of the OpenAPI descriptions that no type can derive (feature `openapi`): fields
//! that stay plain strings or integers on the wire although the contract allows only some
//! values. Each names its values from the constant the server prints, so the two cannot drift.
//!
//! The domain's values (capabilities, statuses, addresses, timestamps) and views describe
//! themselves in `j0_domain::openapi`.

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type},
};

use j0_domain::ledger::CHECKOUT_AMOUNTS_USD;

use crate::error::ErrorCode;

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

schema_type!(
    /// A checkout amount in dollars, from [`CHECKOUT_AMOUNTS_USD`].
    pub AmountUsd = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .enum_values(Some(CHECKOUT_AMOUNTS_USD))
        .into()
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
    /// [`ErrorCode::RateLimited`], the only code of a 429.
    pub RateLimitedCode = string_enum([ErrorCode::RateLimited.as_str()])
);
schema_type!(
    /// [`ErrorCode::ServiceUnavailable`], the code of `GET /health`'s 503.
    pub ServiceUnavailableCode = string_enum([ErrorCode::ServiceUnavailable.as_str()])
);

/// [`ErrorCode::ValidationError`], the only code of a WebSocket `error`.
pub fn validation_error_code() -> Schema {
    string_enum([ErrorCode::ValidationError.as_str()])
}
