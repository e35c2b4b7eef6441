//! The wallet sign-in challenge.
//!
//! A client asks for a challenge for its address, signs `message_to_sign` with `personal_sign`,
//! and trades the signature for a token. The challenge is stored server-side so any instance can
//! verify it, lives 60 seconds, and is consumed by the first successful verify only.

use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::WalletAddress;

/// How long a challenge may be answered.
pub const CHALLENGE_TTL: Duration = Duration::seconds(60);

/// Clock skew tolerated on a session token's `exp`: a token is accepted until `exp` plus this.
pub const TOKEN_LEEWAY: Duration = Duration::seconds(5);

/// Until when a revocation of a token expiring at `exp` must be kept: as long as the token could
/// still be accepted, its leeway included.
pub fn revocation_kept_until(exp: OffsetDateTime) -> OffsetDateTime {
    exp + TOKEN_LEEWAY
}

/// Bytes of CSPRNG output in a nonce (128 bits).
pub const NONCE_BYTES: usize = 16;

/// The domain that names the service in `message_to_sign` and issues tokens (`iss`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthDomain(String);

impl AuthDomain {
    /// A domain, as configured (`J0_AUTH_DOMAIN`, default `j0.com`).
    pub fn new(domain: impl Into<String>) -> Self {
        Self(domain.into())
    }

    /// The domain text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for AuthDomain {
    fn default() -> Self {
        Self::new("j0.com")
    }
}

/// A challenge nonce: hex of 128 random bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nonce(String);

impl Nonce {
    /// The nonce for these random bytes.
    pub fn from_random(bytes: [u8; NONCE_BYTES]) -> Self {
        Self(hex::encode(bytes))
    }

    /// A nonce as a client sent it back; any text is looked up, unknown ones simply miss.
    pub fn from_client(text: String) -> Self {
        Self(text)
    }

    /// The nonce text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A challenge issued to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The address allowed to answer it.
    pub address: WalletAddress,
    /// The random nonce.
    pub nonce: Nonce,
    /// When it was issued, whole seconds.
    pub issued_at: OffsetDateTime,
    /// `issued_at + 60 s`.
    pub expires_at: OffsetDateTime,
}

impl Challenge {
    /// A fresh challenge for `address`, issued `now`.
    pub fn issue(address: WalletAddress, nonce: Nonce, now: OffsetDateTime) -> Self {
        let issued_at = crate::time::whole_seconds(now);
        Self {
            address,
            nonce,
            issued_at,
            expires_at: issued_at + CHALLENGE_TTL,
        }
    }

    /// Exactly `"<domain> authentication\nNonce: <nonce>\nTimestamp: <unix seconds>"`, the text
    /// the wallet signs; the timestamp is the issue time, whole seconds.
    ///
    /// ```
    /// use j0_domain::auth::{AuthDomain, Challenge, Nonce};
    /// use time::macros::datetime;
    ///
    /// let address = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23".parse()?;
    /// let issued = datetime!(2024-02-16 00:00:00.5 UTC);
    /// let challenge = Challenge::issue(address, Nonce::from_random([0xab; 16]), issued);
    /// assert_eq!(
    ///     challenge.message_to_sign(&AuthDomain::default()),
    ///     "j0.com authentication\nNonce: abababababababababababababababab\nTimestamp: 1708041600"
    /// );
    /// // It can be answered for 60 seconds, and not at the 60th.
    /// assert!(!challenge.is_expired(datetime!(2024-02-16 00:00:59 UTC)));
    /// assert!(challenge.is_expired(datetime!(2024-02-16 00:01:00 UTC)));
    /// # Ok::<(), j0_domain::AddressError>(())
    /// ```
    pub fn message_to_sign(&self, domain: &AuthDomain) -> String {
        format!(
            "{} authentication\nNonce: {}\nTimestamp: {}",
            domain.as_str(),
            self.nonce,
            self.issued_at.unix_timestamp()
        )
    }

    /// Whether the challenge can no longer be answered at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

/// The state of a stored challenge, as a verify finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChallenge {
    /// The challenge as issued.
    pub challenge: Challenge,
    /// Whether a verify already consumed it.
    pub used: bool,
}

/// Why a challenge cannot be answered, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeRefusal {
    /// No such nonce, or a nonce issued to another address.
    #[error("Challenge not found")]
    NotFound,
    /// Already consumed by a successful verify.
    #[error("Challenge already used")]
    Used,
    /// Past its 60 seconds.
    #[error("Challenge expired")]
    Expired,
}

impl StoredChallenge {
    /// Whether `address` may answer this challenge at `now`, checked in this order: a challenge
    /// issued to another address is `NotFound`, as a missing one is; a used one `Used`; an
    /// expired one `Expired`.
    ///
    /// ```
    /// use j0_domain::{
    ///     WalletAddress,
    ///     auth::{Challenge, ChallengeRefusal, Nonce, StoredChallenge},
    /// };
    /// use time::{Duration, macros::datetime};
    ///
    /// let owner: WalletAddress = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23".parse()?;
    /// let other: WalletAddress = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse()?;
    /// let now = datetime!(2024-02-16 00:00 UTC);
    /// let challenge = Challenge::issue(owner, Nonce::from_random([1; 16]), now);
    /// let fresh = StoredChallenge { challenge, used: false };
    /// assert_eq!(fresh.check(&owner, now), Ok(()));
    /// assert_eq!(fresh.check(&other, now), Err(ChallengeRefusal::NotFound));
    /// let late = now + Duration::minutes(5);
    /// assert_eq!(fresh.check(&owner, late), Err(ChallengeRefusal::Expired));
    /// // Used is told before expired.
    /// let used = StoredChallenge { used: true, ..fresh };
    /// assert_eq!(used.check(&owner, late), Err(ChallengeRefusal::Used));
    /// # Ok::<(), j0_domain::AddressError>(())
    /// ```
    pub fn check(
        &self,
        address: &WalletAddress,
        now: OffsetDateTime,
    ) -> Result<(), ChallengeRefusal> {
        if self.challenge.address != *address {
            Err(ChallengeRefusal::NotFound)
        } else if self.used {
            Err(ChallengeRefusal::Used)
        } else if self.challenge.is_expired(now) {
            Err(ChallengeRefusal::Expired)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn challenge() -> Challenge {
        let address = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
            .parse()
            .unwrap();
        Challenge::issue(
            address,
            Nonce::from_random([0xab; 16]),
            datetime!(2024-02-16 00:00:00.5 UTC),
        )
    }

    #[test]
    fn message_is_exact() {
        assert_eq!(
            challenge().message_to_sign(&AuthDomain::default()),
            "j0.com authentication\nNonce: abababababababababababababababab\nTimestamp: 1708041600"
        );
    }

    #[test]
    fn lives_sixty_seconds() {
        let c = challenge();
        assert_eq!(c.expires_at.unix_timestamp(), 1_708_041_660);
        assert!(!c.is_expired(datetime!(2024-02-16 00:00:59 UTC)));
        assert!(c.is_expired(datetime!(2024-02-16 00:01:00 UTC)));
    }

    #[test]
    fn checks_owner_then_use_then_expiry() {
        let c = challenge();
        let owner = c.address;
        let other: WalletAddress = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
            .parse()
            .unwrap();
        let late = datetime!(2024-02-16 00:05:00 UTC);
        let used = StoredChallenge {
            challenge: c.clone(),
            used: true,
        };
        assert_eq!(used.check(&other, late), Err(ChallengeRefusal::NotFound));
        assert_eq!(used.check(&owner, late), Err(ChallengeRefusal::Used));
        let fresh = StoredChallenge {
            challenge: c.clone(),
            used: false,
        };
        assert_eq!(fresh.check(&owner, late), Err(ChallengeRefusal::Expired));
        assert_eq!(fresh.check(&owner, c.issued_at), Ok(()));
    }
}
