//! The EVM adapter: everything j0 asks of Ethereum-style chains, behind the ports in `j0-ports`.
//!
//! - [`EthSignatureVerifier`] recovers the wallet that signed a sign-in message
//!   (`SignatureVerifier`), refusing malleable signatures.
//! - [`Create2Deposits`] derives each user's USDC deposit address with CREATE2
//!   (`DepositAddresses`): a pure computation, so the server holds no private key.
//! - [`JsonRpcChain`] reads the chain head and ERC-20 `Transfer` logs over HTTP JSON-RPC
//!   (`ChainReader`) for the deposit watcher.
//!
//! `ethers-core` had its final release (upstream moved to alloy), so it stays inside this adapter:
//! nothing else in the workspace names its types, and replacing it touches only this crate.

mod deposit;
mod rpc;
mod signature;

pub use deposit::{
    Create2Deposits, DEFAULT_DEPOSIT_FACTORY, DEFAULT_FORWARDER_IMPLEMENTATION,
    DEFAULT_INIT_CODE_HASH, InvalidInitCodeHash, forwarder_init_code_hash, minimal_proxy_init_code,
    parse_init_code_hash,
};
pub use rpc::{JsonRpcChain, REQUEST_TIMEOUT};
pub use signature::EthSignatureVerifier;
