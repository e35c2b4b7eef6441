//! Money. One credit is one cent; amounts are whole cents in an `i64`, never floats.

use std::fmt;

/// A whole number of cents. Arithmetic is checked: an overflow is a bug, reported as `None`.
///
/// ```
/// use j0_domain::Cents;
///
/// assert_eq!(Cents(950).checked_add(Cents(50)), Some(Cents(1_000)));
/// assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), None);
/// assert_eq!(Cents(5).checked_sub(Cents(7)), Some(Cents(-2)));
/// assert_eq!(Cents(1_234).dollars().to_string(), "12.34");
/// assert_eq!(Cents(-950).dollars().to_string(), "-9.50");
/// // On the wire it is a bare number of cents.
/// assert_eq!(serde_json::to_string(&Cents(42)).unwrap(), "42");
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
pub struct Cents(pub i64);

impl Cents {
    /// No money.
    pub const ZERO: Cents = Cents(0);

    /// The raw number of cents.
    pub fn get(self) -> i64 {
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

    /// Whether this amount is below zero.
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Prints as dollars with two decimals, as in `"Purchased via Stripe ($12.34)"`.
    pub fn dollars(self) -> Dollars {
        Dollars(self)
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
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
    }
}
