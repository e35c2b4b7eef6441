//! The handlers, one module per area of the contract.

pub(crate) mod auth;
pub(crate) mod credits;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod payments;
pub(crate) mod users;
