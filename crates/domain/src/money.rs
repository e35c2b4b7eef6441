//! Money. One credit is one cent; amounts are whole cents in an `i64`, never floats.
//!
//! The number inside [`Cents`] is private: amounts are added, subtracted, negated and shared out
//! here, with every overflow either refused (`checked_*`, `None`) or, where the operands are
//! bounded by construction (`-`, `Ratio`), caught by the release profile's overflow checks
//! rather than wrapped.

use std::{fmt, ops::Neg};

/// A whole number of cents.
///
/// ```
/// use j0_domain::Cents;
///
/// assert_eq!(Cents::new(950).checked_add(Cents::new(50)), Some(Cents::new(1_000)));
/// assert_eq!(Cents::new(i64::MAX).checked_add(Cents::new(1)), None);
/// assert_eq!(Cents::new(5).checked_sub(Cents::new(7)), Some(Cents::new(-2)));
/// assert_eq!(-Cents::new(12), Cents::new(-12));
/// assert_eq!(Cents::new(1_234).dollars().to_string(), "12.34");
/// assert_eq!(Cents::new(-950).dollars().to_string(), "-9.50");
/// // On the wire it is a bare number of cents.
/// assert_eq!(serde_json::to_string(&Cents::new(42)).unwrap(), "42");
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Cents(i64);

impl Cents {
    /// No money.
    pub const ZERO: Cents = Cents(0);

    /// `cents` cents.
    pub const fn new(cents: i64) -> Self {
        Self(cents)
    }

    /// The raw number of cents, for storage and the wire.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }

    /// `self + other`, stopping at the largest (or smallest) amount rather than wrapping.
    pub fn saturating_add(self, other: Cents) -> Cents {
        Cents(self.0.saturating_add(other.0))
    }

    /// Whether this amount is below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `ratio` of this amount, rounded down to a whole cent (toward negative infinity).
    ///
    /// ```
    /// use j0_domain::{Cents, money::Ratio};
    ///
    /// let nine_tenths = Ratio::new(9, 10);
    /// assert_eq!(Cents::new(15).times(nine_tenths), Cents::new(13)); // 13.5
    /// assert_eq!(Cents::new(100).times(nine_tenths), Cents::new(90));
    /// ```
    pub fn times(self, ratio: Ratio) -> Cents {
        let exact = i128::from(self.0) * i128::from(ratio.numerator);
        let floored = exact.div_euclid(i128::from(ratio.denominator));
        Cents(i64::try_from(floored).unwrap_or(if floored < 0 { i64::MIN } else { i64::MAX }))
    }

    /// Prints as dollars with two decimals, as in `"Purchased via Stripe ($12.34)"`.
    pub fn dollars(self) -> Dollars {
        Dollars(self)
    }
}

impl Neg for Cents {
    type Output = Cents;

    /// The opposite amount: a debit of a credit. Amounts are far from `i64::MIN`; the release
    /// profile's overflow checks stop the one value that has no opposite.
    fn neg(self) -> Cents {
        Cents(-self.0)
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A fraction of an amount, `numerator / denominator` with a positive denominator: the worker's
/// share of a job's price, the credit a purchase buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratio {
    numerator: i64,
    denominator: i64,
}

impl Ratio {
    /// `numerator / denominator`; a denominator below one is taken as one.
    pub const fn new(numerator: i64, denominator: i64) -> Self {
        Self {
            numerator,
            denominator: if denominator < 1 { 1 } else { denominator },
        }
    }
}

/// Display adapter printing cents as `12.34`.
#[derive(Debug, Clone, Copy)]
pub struct Dollars(Cents);

impl fmt::Display for Dollars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = self.0.0;
        let sign = if cents < 0 { "-" } else { "" };
        let abs = cents.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_print_with_two_decimals() {
        assert_eq!(Cents(1234).dollars().to_string(), "12.34");
        assert_eq!(Cents(500).dollars().to_string(), "5.00");
        assert_eq!(Cents(7).dollars().to_string(), "0.07");
        assert_eq!(Cents(-950).dollars().to_string(), "-9.50");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), None);
        assert_eq!(Cents(5).checked_sub(Cents(7)), Some(Cents(-2)));
        assert_eq!(Cents(i64::MAX).saturating_add(Cents(1)), Cents(i64::MAX));
    }

    #[test]
    fn ratios_round_down_and_never_overflow() {
        assert_eq!(Cents(-15).times(Ratio::new(9, 10)), Cents(-14));
        assert_eq!(Cents(i64::MAX).times(Ratio::new(2, 1)), Cents(i64::MAX));
        assert_eq!(Cents(7).times(Ratio::new(1, 0)), Cents(7));
    }
}
