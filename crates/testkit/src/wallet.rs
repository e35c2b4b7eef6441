//! Test wallets: the client's own, which signs exactly like MetaMask's `personal_sign`.

pub use j0_client::Wallet;
