//! What j0's tests share: a PostgreSQL database per test, the real server started on port 0
//! against it, wallets that sign like MetaMask, and a typed client. Test code: failures panic
//! with a message, so `expect` is the error handling here.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod anvil;
mod app;
mod clock;
mod db;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod stripe_fake;
pub mod wallet;
mod ws;

pub use app::{
    Response, Session, TableLock, TestApp, app_secret, client_at, sign_in_at, spawn_app,
    spawn_app_with,
};
pub use clock::TestClock;
pub use db::{TestDatabase, admin_url};
pub use proxy::Proxy;
pub use wallet::Wallet;
pub use ws::{Ended, WsClient};
