//! Ethereum signature recovery: the [`SignatureVerifier`] port implemented over `ethers-core`.
//!
//! A signature is accepted only in its canonical form — 65 bytes `r ‖ s ‖ v`, `v` in
//! {27, 28, 0, 1}, non-zero `r` and `s` below the curve order, and low `s` (`s <= n/2`).
//! `ethers-core`'s own `Signature::recover` silently normalises a high `s`, which would let anyone
//! turn one valid signature into a second one; here the check runs explicitly before recovery
//! (k256's verification step refuses high `s` too, but that is not relied upon).

use ethers_core::{
    k256::ecdsa::{RecoveryId, Signature, VerifyingKey},
    utils::{hash_message, public_key_to_address},
};
use j0_domain::WalletAddress;
use j0_ports::{InvalidSignature, SignatureVerifier};

/// Length of an encoded signature: `r` (32) ‖ `s` (32) ‖ `v` (1).
const SIGNATURE_LEN: usize = 65;

/// Recovers the signer of an EIP-191 `personal_sign` message, as MetaMask and ethers.js make it.
#[derive(Debug, Default, Clone, Copy)]
pub struct EthSignatureVerifier;

impl SignatureVerifier for EthSignatureVerifier {
    fn recover_personal_sign(
        &self,
        message: &str,
        signature: &str,
    ) -> Result<WalletAddress, InvalidSignature> {
        let bytes = decode_hex(signature)?;
        let (signature, recovery_id) = parse_signature(&bytes)?;
        recover(message, &signature, recovery_id)
    }
}

/// The 65 bytes of a hex signature with an optional `0x` prefix; any other length is refused.
fn decode_hex(signature: &str) -> Result<[u8; SIGNATURE_LEN], InvalidSignature> {
    let digits = signature
        .strip_prefix("0x")
        .or_else(|| signature.strip_prefix("0X"))
        .unwrap_or(signature);
    let mut bytes = [0u8; SIGNATURE_LEN];
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| InvalidSignature)?;
    Ok(bytes)
}

/// Splits `r ‖ s ‖ v` into a low-`s` ECDSA signature and its recovery id.
///
/// `r` and `s` must be non-zero and below the curve order `n` (checked by `from_slice`), and `s`
/// must not exceed `n/2`: the high-`s` twin `(r, n - s)` of a valid signature is refused.
fn parse_signature(
    bytes: &[u8; SIGNATURE_LEN],
) -> Result<(Signature, RecoveryId), InvalidSignature> {
    let (rs, v) = bytes.split_at(SIGNATURE_LEN - 1);
    let signature = Signature::from_slice(rs).map_err(|_| InvalidSignature)?;
    // `normalize_s` returns `Some` exactly when `s > n/2`.
    if signature.normalize_s().is_some() {
        return Err(InvalidSignature);
    }
    let recovery_id = recovery_id(v.first().copied().ok_or(InvalidSignature)?)?;
    Ok((signature, recovery_id))
}

/// The recovery id for `v`: 27 or 0 is even `y`, 28 or 1 is odd `y`; anything else is refused.
fn recovery_id(v: u8) -> Result<RecoveryId, InvalidSignature> {
    let is_y_odd = match v {
        0 | 27 => false,
        1 | 28 => true,
        _ => return Err(InvalidSignature),
    };
    Ok(RecoveryId::new(is_y_odd, false))
}

/// The address whose key signed the EIP-191 hash of `message`.
fn recover(
    message: &str,
    signature: &Signature,
    recovery_id: RecoveryId,
) -> Result<WalletAddress, InvalidSignature> {
    let digest = hash_message(message);
    let key = VerifyingKey::recover_from_prehash(digest.as_bytes(), signature, recovery_id)
        .map_err(|_| InvalidSignature)?;
    Ok(WalletAddress::from_bytes(public_key_to_address(&key).0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use ethers_core::k256::ecdsa::SigningKey;
    use proptest::prelude::*;

    use super::*;

    /// The message `j0.com` asks to sign, with a fixed nonce and timestamp.
    const MESSAGE: &str =
        "j0.com authentication\nNonce: 00112233445566778899aabbccddeeff\nTimestamp: 1708041600";

    /// Address of the private key
    /// `0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318`.
    const SIGNER: &str = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";

    /// Made independently of this crate, with ethers.js 6.17.0 under Node 20:
    /// `await new ethers.Wallet("0x4c08…2318").signMessage(MESSAGE)`. `v` is 28 (0x1c).
    const SIGNATURE: &str = "0x5f2f41bcb9f2372582a21ad58812165225b6138574705d7114b0c1ca1b17470e\
                             729304c642a1bf945378a411f9d47779f3961dee2c8f442d630a30f3563303f61c";

    /// The high-`s` twin of [`SIGNATURE`]: same `r`, `s' = n - s` (computed with JavaScript
    /// `BigInt`), `v` flipped from 28 to 27. Also a valid ECDSA signature by the same key.
    const HIGH_S_TWIN: &str = "0x5f2f41bcb9f2372582a21ad58812165225b6138574705d7114b0c1ca1b17470e\
                               8d6cfb39bd5e406bac875bee062b8884c718bef882b95c0e5cc82d997a033d4b1b";

    fn signer() -> WalletAddress {
        SIGNER.parse().unwrap()
    }

    fn recover(message: &str, signature: &str) -> Result<WalletAddress, InvalidSignature> {
        EthSignatureVerifier.recover_personal_sign(message, signature)
    }

    /// `SIGNATURE` with its last byte replaced by `v`.
    fn with_v(v: u8) -> String {
        format!("{}{v:02x}", &SIGNATURE[..SIGNATURE.len() - 2])
    }

    #[test]
    fn recovers_the_ethers_js_vector() {
        assert_eq!(recover(MESSAGE, SIGNATURE), Ok(signer()));
        assert_eq!(recover(MESSAGE, SIGNATURE).unwrap().to_string(), SIGNER);
    }

    #[test]
    fn accepts_the_vector_without_prefix_and_in_upper_case() {
        assert_eq!(recover(MESSAGE, &SIGNATURE[2..]), Ok(signer()));
        assert_eq!(recover(MESSAGE, &SIGNATURE.to_uppercase()), Ok(signer()));
    }

    #[test]
    fn v_zero_one_form_recovers_the_same_address() {
        assert_eq!(with_v(0x1c), SIGNATURE);
        assert_eq!(recover(MESSAGE, &with_v(1)), Ok(signer()));
        // The other parity recovers some other key, never the signer.
        assert_ne!(recover(MESSAGE, &with_v(0)), Ok(signer()));
        assert_eq!(recover(MESSAGE, &with_v(0)), recover(MESSAGE, &with_v(27)));
    }

    #[test]
    fn refuses_the_high_s_twin() {
        // ethers-core itself accepts the twin and recovers the signer: the trap this adapter
        // closes.
        let twin: ethers_core::types::Signature = HIGH_S_TWIN.parse().unwrap();
        assert_eq!(
            twin.recover(MESSAGE).unwrap().0,
            *signer().as_bytes(),
            "ethers-core normalises high s"
        );
        assert_eq!(recover(MESSAGE, HIGH_S_TWIN), Err(InvalidSignature));
        assert_eq!(recover(MESSAGE, &HIGH_S_TWIN[2..]), Err(InvalidSignature));
    }

    #[test]
    fn parsing_alone_refuses_high_s() {
        // The explicit check, independent of k256 also refusing high s when it verifies.
        let twin = decode_hex(HIGH_S_TWIN).unwrap();
        assert_eq!(parse_signature(&twin).err(), Some(InvalidSignature));
        let low = decode_hex(SIGNATURE).unwrap();
        assert!(parse_signature(&low).is_ok());
    }

    #[test]
    fn refuses_malformed_signatures() {
        let zero_r = format!("0x{}{}", "00".repeat(32), &SIGNATURE[66..]);
        let zero_s = format!("{}{}{}", &SIGNATURE[..66], "00".repeat(32), "1c");
        let order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
        let r_is_n = format!("0x{order}{}", &SIGNATURE[66..]);
        let cases = [
            String::new(),
            "0x".to_owned(),
            SIGNATURE[..SIGNATURE.len() - 2].to_owned(), // 64 bytes
            format!("{SIGNATURE}00"),                    // 66 bytes
            SIGNATURE[..SIGNATURE.len() - 1].to_owned(), // odd number of digits
            SIGNATURE.replacen('5', "g", 1),             // not hex
            format!(" {SIGNATURE}"),
            format!("0x{SIGNATURE}"),
            with_v(2),
            with_v(26),
            with_v(29),
            with_v(0xff),
            zero_r,
            zero_s,
            r_is_n,
        ];
        for case in cases {
            assert_eq!(recover(MESSAGE, &case), Err(InvalidSignature), "{case:?}");
        }
    }

    #[test]
    fn another_message_recovers_another_address() {
        let other = MESSAGE.replace("1708041600", "1708041601");
        let recovered = recover(&other, SIGNATURE).unwrap();
        assert_ne!(recovered, signer());
    }

    #[test]
    fn recovers_keys_signed_here() {
        let mut rng = ethers_core::rand::thread_rng();
        for _ in 0..8 {
            let key = SigningKey::random(&mut rng);
            let address = WalletAddress::from_bytes(public_key_to_address(key.verifying_key()).0);
            let (signature, id) = key
                .sign_prehash_recoverable(hash_message(MESSAGE).as_bytes())
                .unwrap();
            let (signature, id) = match signature.normalize_s() {
                Some(low) => (low, RecoveryId::from_byte(id.to_byte() ^ 1).unwrap()),
                None => (signature, id),
            };
            let mut bytes = signature.to_bytes().to_vec();
            bytes.push(27 + id.to_byte());
            assert_eq!(recover(MESSAGE, &hex::encode(bytes)), Ok(address));
        }
    }

    proptest! {
        #[test]
        fn fuzz_signature_decoding(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let encoded = hex::encode(&bytes);
            let _ = recover(MESSAGE, &encoded);
            let _ = recover(MESSAGE, &format!("0x{encoded}"));
            let _ = recover(MESSAGE, &String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn fuzz_65_byte_signatures(
            rs in proptest::collection::vec(any::<u8>(), 64),
            v in prop_oneof![Just(0u8), Just(1), Just(27), Just(28), any::<u8>()],
            message in ".{0,64}",
        ) {
            let signature = format!("0x{}{v:02x}", hex::encode(rs));
            if let Ok(address) = recover(&message, &signature) {
                prop_assert!([0, 1, 27, 28].contains(&v), "{address} from v = {v}");
            }
        }
    }
}
