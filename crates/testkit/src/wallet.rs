//! Test wallets that sign like MetaMask: EIP-191 `personal_sign`, 65 bytes `r ‖ s ‖ v`,
//! low `s`, `v` = 27 + recovery id.
//!
//! `ethers-core` has no signer of its own, so this signs with its re-exported `k256`. Test code
//! only: malformed keys panic.

use std::fmt;

use ethers_core::{
    k256::ecdsa::{RecoveryId, Signature, SigningKey},
    rand::thread_rng,
    utils::{hash_message, public_key_to_address},
};
use j0_domain::WalletAddress;

/// A secp256k1 key and its Ethereum address. `Debug` shows the address only, never the key.
#[derive(Clone)]
pub struct Wallet {
    key: SigningKey,
    address: WalletAddress,
}

impl Wallet {
    /// A fresh wallet with a key from the thread-local CSPRNG.
    pub fn random() -> Self {
        Self::from_key(SigningKey::random(&mut thread_rng()))
    }

    /// The wallet of a 32-byte private key in hex, `0x` optional.
    ///
    /// # Panics
    ///
    /// If `private_key` is not 64 hex digits of a valid secp256k1 scalar (non-zero, below `n`).
    #[allow(clippy::expect_used)]
    pub fn from_private_key_hex(private_key: &str) -> Self {
        let digits = private_key.strip_prefix("0x").unwrap_or(private_key);
        let bytes = hex::decode(digits).expect("private key must be hex");
        let key = SigningKey::from_slice(&bytes)
            .expect("private key must be 32 bytes, non-zero and below the curve order");
        Self::from_key(key)
    }

    /// The private key in hex, `0x`-prefixed, to sign in with the same wallet again.
    pub fn private_key_hex(&self) -> String {
        format!("0x{}", hex::encode(self.key.to_bytes()))
    }

    /// The wallet of `key`.
    fn from_key(key: SigningKey) -> Self {
        let address = WalletAddress::from_bytes(public_key_to_address(key.verifying_key()).0);
        Self { key, address }
    }

    /// The wallet's address.
    pub fn address(&self) -> WalletAddress {
        self.address
    }

    /// `personal_sign` of `message` as `0x` followed by 130 lower-case hex digits, as MetaMask and
    /// ethers.js `signMessage` return it.
    pub fn sign_personal(&self, message: &str) -> String {
        format!("0x{}", hex::encode(self.sign_personal_bytes(message)))
    }

    /// `personal_sign` of `message` as raw bytes `r ‖ s ‖ v`, for tests that tamper with it.
    ///
    /// # Panics
    ///
    /// Never in practice: k256 fails only for a zero digest or nonce, which cannot happen with a
    /// Keccak-256 digest and RFC 6979 nonces.
    #[allow(clippy::expect_used)]
    pub fn sign_personal_bytes(&self, message: &str) -> [u8; 65] {
        let digest = hash_message(message);
        let (signature, recovery_id) = self
            .key
            .sign_prehash_recoverable(digest.as_bytes())
            .expect("signing a Keccak-256 digest does not fail");
        let (signature, recovery_id) = low_s(signature, recovery_id);
        let mut bytes = [0u8; 65];
        bytes[..64].copy_from_slice(&signature.to_bytes());
        bytes[64] = 27 + recovery_id.to_byte();
        bytes
    }
}

/// The low-`s` form of a signature: `s` replaced by `n - s` when above `n/2`, which mirrors the
/// point and so flips the recovery id's `y` parity. (k256 already signs low-`s` for secp256k1;
/// this keeps the output canonical without relying on that.)
fn low_s(signature: Signature, recovery_id: RecoveryId) -> (Signature, RecoveryId) {
    match signature.normalize_s() {
        Some(low) => (
            low,
            RecoveryId::new(!recovery_id.is_y_odd(), recovery_id.is_x_reduced()),
        ),
        None => (signature, recovery_id),
    }
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
