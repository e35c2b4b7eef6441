//! The OpenAPI schemas of the domain's values (feature `openapi`), so that the views
//! ([`crate::view`]) and the API's bodies derive theirs from the types that serialize them.
//!
//! Each enumeration reads the domain's own list (`ALL`, `as_str`), so a new capability or
//! status reaches the document with no edit here. The feature is off by default: the domain
//! depends on utoipa only when the server builds its document.

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{KnownFormat, ObjectBuilder, RefOr, Schema, SchemaFormat, Type},
};

use crate::{
    WalletAddress,
    job::{Capability, JobStatus},
    ledger::HistoryType,
};

/// A string schema allowing exactly `values`.
fn string_enum(values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    RefOr::T(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values))
            .into(),
    )
}

impl PartialSchema for Capability {
    fn schema() -> RefOr<Schema> {
        string_enum(Capability::ALL.map(Capability::as_str))
    }
}

impl ToSchema for Capability {}

impl PartialSchema for JobStatus {
    fn schema() -> RefOr<Schema> {
        string_enum(JobStatus::ALL.map(JobStatus::as_str))
    }
}

impl ToSchema for JobStatus {}

impl PartialSchema for HistoryType {
    fn schema() -> RefOr<Schema> {
        string_enum(HistoryType::ALL.map(HistoryType::as_str))
    }
}

/// Named as the contract names a history row's `type`.
impl ToSchema for HistoryType {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TransactionType")
    }
}

/// A wallet address as the server prints it: EIP-55 checksummed.
impl PartialSchema for WalletAddress {
    fn schema() -> RefOr<Schema> {
        RefOr::T(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^0x[0-9a-fA-F]{40}$"))
                .into(),
        )
    }
}

impl ToSchema for WalletAddress {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Address")
    }
}

/// The schema of an instant as [`crate::time::rfc3339`] prints it, `2026-02-13T23:00:00Z`: the
/// `value_type` of every `OffsetDateTime` field that is serialized with
/// [`crate::time::serde_rfc3339`].
#[derive(Debug)]
pub struct Timestamp;

impl PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        RefOr::T(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                .pattern(Some(
                    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
                ))
                .into(),
        )
    }
}

impl ToSchema for Timestamp {}
