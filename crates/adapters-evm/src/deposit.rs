//! Deposit addresses: the [`DepositAddresses`] port as a pure CREATE2 computation.
//!
//! A user's deposit address is where `factory` would deploy `init_code` with
//! `salt = user id as 32-byte big-endian` (EIP-1014):
//! `keccak256(0xff ‖ factory ‖ salt ‖ keccak256(init_code))[12..]`. Nothing is deployed to compute
//! it and no private key exists for it: the server only watches the address, and whoever operates
//! the deposit contracts deploys the forwarder there later (with the same factory, salt and init
//! code) to move what arrived. The derivation is a function of the two configured values and the
//! user id, so every replica of the server — and every restart — agrees on each address.
//!
//! What the default factory and init-code hash are, and why they are only placeholders, is told
//! on [`Create2Deposits`].

use ethers_core::{types::H160, utils::get_create2_address_from_hash};
use j0_domain::{UserId, WalletAddress};
use j0_ports::chain::DepositAddresses;

/// The default CREATE2 deployer: the deterministic deployment proxy, at this address on Base,
/// Ethereum and anvil alike. Operators set `J0_DEPOSIT_FACTORY` to the deployer they use.
pub const DEFAULT_DEPOSIT_FACTORY: &str = "0x4e59b44847b379578588920cA78FbF26c0B4956C";

/// The forwarder implementation the default init code clones: the zero address, a placeholder
/// (see [`Create2Deposits`]). Operators deploy their own forwarder.
pub const DEFAULT_FORWARDER_IMPLEMENTATION: &str = "0x0000000000000000000000000000000000000000";

/// keccak256 of [`minimal_proxy_init_code`] for [`DEFAULT_FORWARDER_IMPLEMENTATION`]: the
/// default `J0_DEPOSIT_INIT_CODE_HASH`, a development placeholder that operators replace.
pub const DEFAULT_INIT_CODE_HASH: &str =
    "0x3df3da56b3ea8de108a8606dea387d6535fca78db07a7d90f7a05ad323dd43c7";

/// [`DEFAULT_DEPOSIT_FACTORY`] as bytes (a test checks the two agree).
const DEFAULT_FACTORY_BYTES: [u8; 20] = [
    0x4e, 0x59, 0xb4, 0x48, 0x47, 0xb3, 0x79, 0x57, 0x85, 0x88, 0x92, 0x0c, 0xa7, 0x8f, 0xbf, 0x26,
    0xc0, 0xb4, 0x95, 0x6c,
];

/// [`DEFAULT_INIT_CODE_HASH`] as bytes (a test checks the two agree).
const DEFAULT_INIT_CODE_HASH_BYTES: [u8; 32] = [
    0x3d, 0xf3, 0xda, 0x56, 0xb3, 0xea, 0x8d, 0xe1, 0x08, 0xa8, 0x60, 0x6d, 0xea, 0x38, 0x7d, 0x65,
    0x35, 0xfc, 0xa7, 0x8d, 0xb0, 0x7a, 0x7d, 0x90, 0xf7, 0xa0, 0x5a, 0xd3, 0x23, 0xdd, 0x43, 0xc7,
];

/// EIP-1167 creation code before the implementation address: it copies the 45-byte runtime
/// that follows it into memory and returns it.
const MINIMAL_PROXY_PREFIX: [u8; 20] = [
    0x3d, 0x60, 0x2d, 0x80, 0x60, 0x0a, 0x3d, 0x39, 0x81, 0xf3, // creation
    0x36, 0x3d, 0x3d, 0x37, 0x3d, 0x3d, 0x3d, 0x36, 0x3d, 0x73, // runtime up to PUSH20
];

/// EIP-1167 runtime after the implementation address: `DELEGATECALL`, then return or revert
/// with whatever the implementation returned.
const MINIMAL_PROXY_SUFFIX: [u8; 15] = [
    0x5a, 0xf4, 0x3d, 0x82, 0x80, 0x3e, 0x90, 0x3d, 0x91, 0x60, 0x2b, 0x57, 0xfd, 0x5b, 0xf3,
];

/// The init code of an EIP-1167 minimal proxy that delegates every call to `implementation`:
/// the usual way to deploy one small forwarder per user cheaply. Its keccak256 is the
/// init-code hash to configure.
pub fn minimal_proxy_init_code(implementation: &WalletAddress) -> Vec<u8> {
    let mut code = Vec::with_capacity(MINIMAL_PROXY_PREFIX.len() + 20 + MINIMAL_PROXY_SUFFIX.len());
    code.extend_from_slice(&MINIMAL_PROXY_PREFIX);
    code.extend_from_slice(implementation.as_bytes());
    code.extend_from_slice(&MINIMAL_PROXY_SUFFIX);
    code
}

/// keccak256 of [`minimal_proxy_init_code`] for `implementation`: the init-code hash to
/// configure for forwarders that clone it.
pub fn forwarder_init_code_hash(implementation: &WalletAddress) -> [u8; 32] {
    ethers_core::utils::keccak256(minimal_proxy_init_code(implementation))
}

/// An init-code hash that is not `0x` followed by 64 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("init-code hash must be 0x followed by 64 hexadecimal digits")]
pub struct InvalidInitCodeHash;

/// Parses an init-code hash as configured (`J0_DEPOSIT_INIT_CODE_HASH`): `0x` and 64 hex digits,
/// in any case.
pub fn parse_init_code_hash(text: &str) -> Result<[u8; 32], InvalidInitCodeHash> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .ok_or(InvalidInitCodeHash)?;
    let mut hash = [0u8; 32];
    // `decode_to_slice` refuses any length but 64 digits and any non-hex character.
    hex::decode_to_slice(digits, &mut hash).map_err(|_| InvalidInitCodeHash)?;
    Ok(hash)
}

/// The salt for `user`: the id as a 32-byte big-endian two's-complement integer.
///
/// User ids are positive, so this is the id as a `uint256`; sign-extending keeps the mapping
/// one-to-one over every `i64` all the same, so no two ids can share an address.
fn salt(user: UserId) -> [u8; 32] {
    let fill = if user.get() < 0 { 0xff } else { 0x00 };
    let mut salt = [fill; 32];
    salt[24..].copy_from_slice(&user.get().to_be_bytes());
    salt
}

/// Deposit addresses derived with CREATE2 from a factory and an init-code hash:
/// `keccak256(0xff ‖ factory ‖ salt ‖ init_code_hash)[12..]`, the salt being the user id as a
/// 32-byte big-endian integer. No private key exists for these addresses; the operator deploys
/// the forwarder at one (same factory, salt and init code) to move what arrived.
///
/// # The defaults
///
/// [`DEFAULT_DEPOSIT_FACTORY`] is the deterministic deployment proxy (`0x4e59…956C`), which sits
/// at the same address on Base, on Ethereum and on a local anvil node. It deploys
/// `calldata[32..]` with CREATE2 and salt `calldata[..32]`, for anyone: that is safe here because
/// the init code fixes what the deployed contract does, so deploying it early changes nothing.
///
/// [`DEFAULT_INIT_CODE_HASH`] is keccak256 of [`minimal_proxy_init_code`] for
/// [`DEFAULT_FORWARDER_IMPLEMENTATION`], the zero address: an EIP-1167 clone that would delegate
/// to nothing. It is a placeholder that gives well-formed, unique, reproducible addresses for
/// development and tests, and nothing can sweep funds out of them. An operator deploys their own
/// forwarder implementation (one that moves the token to their treasury), and sets
/// `J0_DEPOSIT_INIT_CODE_HASH` to keccak256 of [`minimal_proxy_init_code`] for it (or of any
/// init code of theirs) and `J0_DEPOSIT_FACTORY` to the deployer they use, before taking real
/// deposits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Create2Deposits {
    factory: WalletAddress,
    init_code_hash: [u8; 32],
}

impl Create2Deposits {
    /// Addresses `factory` would deploy init code hashing to `init_code_hash` at.
    pub fn new(factory: WalletAddress, init_code_hash: [u8; 32]) -> Self {
        Self {
            factory,
            init_code_hash,
        }
    }

    /// The CREATE2 deployer.
    pub fn factory(&self) -> WalletAddress {
        self.factory
    }

    /// keccak256 of the forwarder's init code.
    pub fn init_code_hash(&self) -> [u8; 32] {
        self.init_code_hash
    }

    /// Whether the init code is the [`DEFAULT_INIT_CODE_HASH`] placeholder, whose addresses
    /// nothing can sweep.
    pub fn is_placeholder(&self) -> bool {
        self.init_code_hash == DEFAULT_INIT_CODE_HASH_BYTES
    }
}

impl Default for Create2Deposits {
    /// [`DEFAULT_DEPOSIT_FACTORY`] and [`DEFAULT_INIT_CODE_HASH`]: development placeholders.
    fn default() -> Self {
        Self::new(
            WalletAddress::from_bytes(DEFAULT_FACTORY_BYTES),
            DEFAULT_INIT_CODE_HASH_BYTES,
        )
    }
}

impl DepositAddresses for Create2Deposits {
    fn deposit_address(&self, user: UserId) -> WalletAddress {
        let address = get_create2_address_from_hash(
            H160(*self.factory.as_bytes()),
            salt(user),
            self.init_code_hash,
        );
        WalletAddress::from_bytes(address.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use ethers_core::utils::keccak256;
    use proptest::prelude::*;

    use super::*;

    fn address(text: &str) -> WalletAddress {
        text.parse().unwrap()
    }

    /// `create2(factory, salt, keccak256(init_code))` for raw byte inputs.
    fn create2(factory: &str, salt: &str, init_code: &str) -> WalletAddress {
        let deposits = Create2Deposits::new(
            address(factory),
            keccak256(hex::decode(init_code.trim_start_matches("0x")).unwrap()),
        );
        let salt = hex::decode(salt.trim_start_matches("0x")).unwrap();
        let raw = get_create2_address_from_hash(
            H160(*deposits.factory.as_bytes()),
            salt,
            deposits.init_code_hash,
        );
        WalletAddress::from_bytes(raw.0)
    }

    #[test]
    fn eip_1014_example_vectors() {
        // Examples 0, 1, 4 and 6 of EIP-1014; those whose salt is a user id are checked through
        // the port below too.
        let zero = "0x0000000000000000000000000000000000000000";
        let zero_salt = "0x0000000000000000000000000000000000000000000000000000000000000000";
        let cases = [
            (
                zero,
                zero_salt,
                "0x00",
                "0x4D1A2e2bB4F88F0250f26Ffff098B0b30B26BF38",
            ),
            (
                "0xdeadbeef00000000000000000000000000000000",
                zero_salt,
                "0x00",
                "0xB928f69Bb1D91Cd65274e3c79d8986362984fDA3",
            ),
            (
                "0x00000000000000000000000000000000deadbeef",
                "0x00000000000000000000000000000000000000000000000000000000cafebabe",
                "0xdeadbeef",
                "0x60f3f640a8508fC6a86d45DF051962668E1e8AC7",
            ),
            (
                zero,
                zero_salt,
                "0x",
                "0xE33C0C7F7df4809055C3ebA6c09CFe4BaF1BD9e0",
            ),
        ];
        for (factory, salt, init_code, want) in cases {
            assert_eq!(
                create2(factory, salt, init_code),
                address(want),
                "{init_code}"
            );
        }
    }

    #[test]
    fn the_port_salts_with_the_user_id() {
        // EIP-1014 example 4 has salt 0xcafebabe: user id 0xcafebabe gives the same address.
        let deposits = Create2Deposits::new(
            address("0x00000000000000000000000000000000deadbeef"),
            keccak256(hex::decode("deadbeef").unwrap()),
        );
        assert_eq!(
            deposits.deposit_address(UserId(0xcafe_babe)),
            address("0x60f3f640a8508fC6a86d45DF051962668E1e8AC7")
        );
        // And EIP-1014 example 0 is user 0 with init code 0x00.
        let deposits = Create2Deposits::new(address(DEFAULT_FORWARDER_IMPLEMENTATION), {
            keccak256([0x00])
        });
        assert_eq!(
            deposits.deposit_address(UserId(0)),
            address("0x4D1A2e2bB4F88F0250f26Ffff098B0b30B26BF38")
        );
    }

    #[test]
    fn salt_is_the_id_big_endian() {
        let mut want = [0u8; 32];
        want[31] = 1;
        assert_eq!(salt(UserId(1)), want);
        want[24..].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(salt(UserId(i64::MAX)), want);
        assert_eq!(salt(UserId(-1)), [0xff; 32]);
    }

    #[test]
    fn the_defaults_agree_with_their_documented_text() {
        assert_eq!(
            address(DEFAULT_DEPOSIT_FACTORY),
            WalletAddress::from_bytes(DEFAULT_FACTORY_BYTES)
        );
        assert_eq!(
            parse_init_code_hash(DEFAULT_INIT_CODE_HASH),
            Ok(DEFAULT_INIT_CODE_HASH_BYTES)
        );
        assert_eq!(
            forwarder_init_code_hash(&address(DEFAULT_FORWARDER_IMPLEMENTATION)),
            DEFAULT_INIT_CODE_HASH_BYTES
        );
        let deposits = Create2Deposits::default();
        assert_eq!(deposits.factory().to_string(), DEFAULT_DEPOSIT_FACTORY);
        assert_eq!(deposits.init_code_hash(), DEFAULT_INIT_CODE_HASH_BYTES);
    }

    #[test]
    fn minimal_proxy_init_code_is_eip_1167() {
        let implementation = address("0xbebebebebebebebebebebebebebebebebebebebe");
        assert_eq!(
            hex::encode(minimal_proxy_init_code(&implementation)),
            "3d602d80600a3d3981f3\
             363d3d373d3d3d363d73bebebebebebebebebebebebebebebebebebebebe5af43d82803e903d91602b57fd5bf3"
        );
    }

    #[test]
    fn parses_init_code_hashes() {
        let digits = "5f0a1d5e4b5b0e7f0c1d4c2a8b5e3c1f6a2d9e8b7c6a5f4e3d2c1b0a99887766";
        let want: [u8; 32] = hex::decode(digits).unwrap().try_into().unwrap();
        assert_eq!(parse_init_code_hash(&format!("0x{digits}")), Ok(want));
        assert_eq!(
            parse_init_code_hash(&format!("0X{}", digits.to_uppercase())),
            Ok(want)
        );
        for bad in [
            String::new(),
            "0x".to_owned(),
            digits.to_owned(),
            format!("0x{}", &digits[2..]),
            format!("0x{digits}00"),
            format!("0x{}g", &digits[1..]),
            format!(" 0x{digits}"),
        ] {
            assert_eq!(
                parse_init_code_hash(&bad),
                Err(InvalidInitCodeHash),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn users_get_distinct_stable_addresses() {
        let deposits = Create2Deposits::default();
        let addresses: HashSet<_> = (1..=2_000)
            .map(|id| deposits.deposit_address(UserId(id)))
            .collect();
        assert_eq!(addresses.len(), 2_000);
        assert_eq!(
            deposits.deposit_address(UserId(7)),
            Create2Deposits::default().deposit_address(UserId(7))
        );
    }

    #[test]
    fn another_factory_or_init_code_moves_every_address() {
        let base = Create2Deposits::default();
        let other_factory = Create2Deposits::new(
            address("0x13b0D85CcB8bf860b6b79AF3029fCA081AE9beF2"),
            base.init_code_hash(),
        );
        let other_code = Create2Deposits::new(base.factory(), keccak256(b"another forwarder"));
        for id in 1..=50 {
            let user = UserId(id);
            assert_ne!(
                base.deposit_address(user),
                other_factory.deposit_address(user)
            );
            assert_ne!(base.deposit_address(user), other_code.deposit_address(user));
        }
    }

    proptest! {
        #[test]
        fn distinct_ids_never_collide(a in any::<i64>(), b in any::<i64>()) {
            prop_assume!(a != b);
            let deposits = Create2Deposits::default();
            prop_assert_ne!(
                deposits.deposit_address(UserId(a)),
                deposits.deposit_address(UserId(b))
            );
        }
    }
}
