//! Identifiers. Each is a positive 64-bit integer on the wire; the newtypes keep a job id from
//! being passed where a user id is meant.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The raw value, as stored and printed.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A user, created on their first successful sign-in.
    UserId
);
id_type!(
    /// A job posted to the marketplace.
    JobId
);
id_type!(
    /// A row of a user's credit history.
    TransactionId
);
id_type!(
    /// An outbox event; ids increase in commit order of the events a client can see.
    EventId
);
