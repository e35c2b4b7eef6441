//! A clock tests can move forward, so expiry needs no sleeping.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use j0_ports::Clock;

/// The wall clock plus an offset that only grows.
#[derive(Debug, Default)]
pub struct TestClock {
    offset: Mutex<Duration>,
}

impl TestClock {
    /// Moves time forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + *self.offset.lock().expect("clock lock")
    }
}
