//! What j0's tests put in place of the outside world, faked at the wire so that the real
//! adapters run against them: [`stripe`], a local fake of Stripe's HTTP API, and [`anvil`], a
//! real local EVM node. A leaf crate: the adapters' own tests and the test kit depend on it.

pub mod anvil;
pub mod stripe;
