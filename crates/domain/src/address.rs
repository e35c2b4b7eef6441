//! Ethereum wallet addresses: twenty bytes, parsed from any case and printed in EIP-55 form.
//!
//! All-lower and all-upper hex carry no checksum and are accepted as they are; mixed case is a
//! claim of an EIP-55 checksum and must be a valid one, so a mistyped address is refused rather
//! than silently pointing at someone else.

use std::{fmt, str::FromStr};

use tiny_keccak::{Hasher, Keccak};

/// A 20-byte Ethereum address. Equality compares the bytes, never the text.
///
/// Parsing (`str::parse`, and serde's `Deserialize`) takes `0x` and 40 hex digits: all lower or
/// all upper case as they are, mixed case only as a valid EIP-55 checksum. It prints (and
/// serializes) in EIP-55 form.
///
/// ```
/// use j0_domain::{AddressError, WalletAddress};
///
/// // A valid checksum is accepted, and printed back as it was written.
/// let address: WalletAddress = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".parse()?;
/// assert_eq!(address.to_string(), "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
///
/// // One case throughout carries no checksum: accepted, and the same address.
/// let lower: WalletAddress = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed".parse()?;
/// let upper: WalletAddress = "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED".parse()?;
/// assert_eq!((lower, upper), (address, address));
/// assert_eq!(lower.to_string(), address.to_string());
///
/// // Mixed case that is not the checksum is refused: here the last letter is flipped.
/// assert_eq!(
///     "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD".parse::<WalletAddress>(),
///     Err(AddressError::Checksum)
/// );
/// // Anything but `0x` and 40 hex digits is a format error.
/// for text in ["5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb605", "0xZZ"] {
///     assert_eq!(text.parse::<WalletAddress>(), Err(AddressError::Format), "{text}");
/// }
/// # Ok::<(), AddressError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WalletAddress([u8; 20]);

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not `0x` followed by 40 hexadecimal digits.
    #[error("must be 0x followed by 40 hexadecimal digits")]
    Format,
    /// Mixed case that is not the EIP-55 checksum of the address.
    #[error("mixed-case address has an invalid EIP-55 checksum")]
    Checksum,
}

impl WalletAddress {
    /// The address with these bytes.
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The EIP-55 mixed-case checksum form, `0x`-prefixed: a hex letter is upper case where the
    /// Keccak-256 of the lower-case hex has a nibble of 8 or more.
    ///
    /// ```
    /// use j0_domain::WalletAddress;
    ///
    /// let address: WalletAddress = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359".parse()?;
    /// assert_eq!(address.to_checksum(), "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359");
    /// assert_eq!(WalletAddress::from_bytes(*address.as_bytes()), address);
    /// # Ok::<(), j0_domain::AddressError>(())
    /// ```
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let mut hasher = Keccak::v256();
        hasher.update(lower.as_bytes());
        let mut hash = [0u8; 32];
        hasher.finalize(&mut hash);
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl FromStr for WalletAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .ok_or(AddressError::Format)?;
        if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AddressError::Format);
        }
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| AddressError::Format)?;
        let address = Self(bytes);
        let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksum()[2..] != *digits {
            return Err(AddressError::Checksum);
        }
        Ok(address)
    }
}

impl fmt::Display for WalletAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for WalletAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletAddress({self})")
    }
}

impl serde::Serialize for WalletAddress {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_checksum())
    }
}

impl<'de> serde::Deserialize<'de> for WalletAddress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from EIP-55 itself.
    const EIP55: [&str; 4] = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    #[test]
    fn prints_eip55_vectors() {
        for s in EIP55 {
            let address: WalletAddress = s.to_lowercase().parse().unwrap();
            assert_eq!(address.to_string(), s);
        }
    }

    #[test]
    fn accepts_any_single_case_and_valid_checksums() {
        for s in EIP55 {
            let want: WalletAddress = s.parse().unwrap();
            assert_eq!(s.to_lowercase().parse::<WalletAddress>().unwrap(), want);
            let upper = format!("0x{}", s[2..].to_uppercase());
            assert_eq!(upper.parse::<WalletAddress>().unwrap(), want);
        }
    }

    #[test]
    fn refuses_a_broken_checksum() {
        let broken = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        assert_eq!(broken.parse::<WalletAddress>(), Err(AddressError::Checksum));
    }

    proptest::proptest! {
        /// Arbitrary text never panics the parser; whatever it accepts prints back as the same
        /// 20 bytes.
        #[test]
        fn fuzz_address_parsing(text in "\\PC{0,64}", digits in "(0x)?[0-9a-fA-F]{0,44}") {
            for candidate in [&text, &digits] {
                if let Ok(address) = candidate.parse::<WalletAddress>() {
                    let printed = address.to_string();
                    proptest::prop_assert_eq!(printed.parse::<WalletAddress>(), Ok(address));
                    proptest::prop_assert_eq!(printed.to_lowercase(), candidate.to_lowercase());
                }
            }
        }

        /// Every address round-trips through its checksum form, lower case and upper case.
        #[test]
        fn fuzz_checksum_round_trip(bytes in proptest::array::uniform20(proptest::num::u8::ANY)) {
            let address = WalletAddress::from_bytes(bytes);
            let printed = address.to_string();
            proptest::prop_assert_eq!(printed.parse::<WalletAddress>(), Ok(address));
            proptest::prop_assert_eq!(printed.to_lowercase().parse::<WalletAddress>(), Ok(address));
            let upper = format!("0x{}", printed[2..].to_uppercase());
            proptest::prop_assert_eq!(upper.parse::<WalletAddress>(), Ok(address));
        }
    }

    #[test]
    fn refuses_malformed_text() {
        for s in [
            "",
            "0x",
            "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd",
            "0xZaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            " 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        ] {
            assert_eq!(
                s.parse::<WalletAddress>(),
                Err(AddressError::Format),
                "{s:?}"
            );
        }
    }
}
