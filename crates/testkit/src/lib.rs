//! What j0's tests share: a PostgreSQL database per test, the real server started on port 0
//! against it, wallets that sign like MetaMask, signed-in users driving it through the typed
//! client, and builders of the usual scenes (a job posted, accepted, completed). Test code:
//! failures panic with a message, so `expect` is the error handling here.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod app;
mod clock;
mod db;
pub mod process;
pub mod proxy;
pub mod redis;
mod scenario;
mod session;
mod together;
pub mod wallet;
mod ws;

pub use app::{
    FixedRandomness, TableLock, TestApp, app_secret, no_sweeper, spawn_app, spawn_app_with,
};
pub use clock::TestClock;
pub use db::{TestDatabase, admin_url};
pub use j0_fakes::{anvil, stripe as stripe_fake};
pub use j0_server::Config;
pub use proxy::Proxy;
pub use scenario::{PostedJob, WorkedJob, opus};
pub use session::{Raw, Response, Session, client_at, sign_in_at};
pub use together::{at_once, both_at_once};
pub use wallet::Wallet;
pub use ws::{Ended, WsClient};

/// Asserts that a call was refused: its result is an `Err` with the contract's HTTP `status`
/// and `code`, and is the [`j0_client::Error`] variant named (with the fields and guard given,
/// if any). Evaluates to the error.
///
/// ```ignore
/// assert_refused!(worker.accept_job(id).await => 400, "JOB_ALREADY_ACCEPTED", JobAlreadyAccepted);
/// assert_refused!(
///     worker.accept_job(id).await => 400, "JOB_EXPIRED",
///     JobExpired { message } if message == "Job timeout expired"
/// );
/// ```
#[macro_export]
macro_rules! assert_refused {
    ($result:expr => $status:expr, $code:expr, $variant:ident) => {
        $crate::assert_refused!($result => $status, $code, $variant { .. } if true)
    };
    (
        $result:expr => $status:expr, $code:expr,
        $variant:ident { $($fields:tt)* } if $guard:expr
    ) => {{
        let error = match $result {
            Ok(value) => panic!("expected {} {}, got {value:?}", $status, $code),
            Err(error) => error,
        };
        assert!(
            matches!(&error, $crate::__private::Error::$variant { $($fields)* } if $guard),
            "expected {}, got {error:?}",
            stringify!($variant { $($fields)* } if $guard)
        );
        assert_eq!(
            (error.status(), error.code()),
            (Some($status), Some($code)),
            "{error:?}"
        );
        error
    }};
}

#[doc(hidden)]
pub mod __private {
    pub use j0_client::Error;
}
