//! End-to-end tests of the whole j0 system: the real server on a real PostgreSQL database, driven
//! over HTTP the way clients drive it. One test binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod authz;
mod client;
mod deposits;
mod edge;
mod guards;
mod jobs;
mod limits;
mod metrics;
mod openapi;
mod outbox;
mod payments;
mod races;
mod shared_limits;
mod users;
mod watcher;
mod ws;
