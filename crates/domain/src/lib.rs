//! The rules of j0, free of I/O: money, identities, the sign-in challenge, jobs and the ledger.
//!
//! Everything here is plain data and pure functions, so the rules can be read and tested without
//! a database, a runtime or a network. Adapters store these types; the `app` crate orchestrates
//! them over the `ports` traits.
//!
//! `README.md`, beside this crate, lists its rules and shows a team posting jobs against its
//! own store by implementing `j0-ports`; that example runs as a doc test of `j0-ports`.

#![warn(missing_docs)]

pub mod address;
pub mod auth;
pub mod chain;
pub mod event;
pub mod ids;
pub mod job;
pub mod ledger;
pub mod money;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod posting;
pub mod time;
pub mod user;
pub mod view;

pub use address::{AddressError, WalletAddress};
pub use ids::{EventId, JobId, TransactionId, UserId};
pub use money::Cents;
