//! A wallet that signs like MetaMask: EIP-191 `personal_sign`, 65 bytes `r ‖ s ‖ v`, low `s`,
//! `v` = 27 + recovery id, which is exactly what the server's verifier accepts.
//!
//! `ethers-core` has no signer of its own, so this signs with its re-exported `k256`.

use std::fmt;

use ethers_core::{
    k256::ecdsa::{RecoveryId, Signature, SigningKey},
    rand::thread_rng,
    utils::{hash_message, public_key_to_address},
};
use j0_domain::WalletAddress;

use crate::Error;

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
    pub fn from_private_key(private_key: &str) -> Result<Self, Error> {
        let digits = private_key.trim();
        let digits = digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
            .unwrap_or(digits);
        let bytes = hex::decode(digits)
            .map_err(|_| Error::Config("private key: must be 64 hexadecimal digits".into()))?;
        let key = SigningKey::from_slice(&bytes).map_err(|_| {
            Error::Config(
                "private key: must be 32 bytes, non-zero and below the curve order".into(),
            )
        })?;
        Ok(Self::from_key(key))
    }

    /// The private key in hex, `0x`-prefixed, to sign in with the same wallet again.
    pub fn private_key_hex(&self) -> String {
        format!("0x{}", hex::encode(self.key.to_bytes()))
    }

    fn from_key(key: SigningKey) -> Self {
        let address = WalletAddress::from_bytes(public_key_to_address(key.verifying_key()).0);
        Self { key, address }
    }

    /// The wallet's address.
    pub fn address(&self) -> WalletAddress {
        self.address
    }

    /// `personal_sign` of `message` as `0x` followed by 130 lower-case hex digits, as MetaMask
    /// and ethers.js `signMessage` return it.
    pub fn sign_personal(&self, message: &str) -> String {
        format!("0x{}", hex::encode(self.sign_personal_bytes(message)))
    }

    /// `personal_sign` of `message` as raw bytes `r ‖ s ‖ v`.
    pub fn sign_personal_bytes(&self, message: &str) -> [u8; 65] {
        let digest = hash_message(message);
        let mut bytes = [0u8; 65];
        // k256 fails only for a zero digest or nonce, impossible with a Keccak-256 digest and
        // RFC 6979 nonces; the all-zero signature it would leave is refused by any verifier.
        if let Ok((signature, recovery_id)) = self.key.sign_prehash_recoverable(digest.as_bytes()) {
            let (signature, recovery_id) = low_s(signature, recovery_id);
            bytes[..64].copy_from_slice(&signature.to_bytes());
            bytes[64] = 27 + recovery_id.to_byte();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN_KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

    #[test]
    fn a_known_key_has_its_known_address() {
        let wallet = Wallet::from_private_key(KNOWN_KEY).unwrap();
        assert_eq!(
            wallet.address().to_string(),
            "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
        );
        assert_eq!(wallet.private_key_hex(), KNOWN_KEY);
        assert!(!format!("{wallet:?}").contains("4c0883"));
    }

    #[test]
    fn signatures_are_65_bytes_low_s_with_v_27_or_28() {
        let sig =
            Wallet::random().sign_personal_bytes("j0.com authentication\nNonce: ab\nTimestamp: 1");
        assert!(matches!(sig[64], 27 | 28));
        let s = Signature::from_slice(&sig[..64]).unwrap();
        assert!(s.normalize_s().is_none(), "s must already be low");
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in ["", "0x12", "zz", &format!("0x{}", "00".repeat(32))] {
            assert!(
                matches!(Wallet::from_private_key(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }
}
