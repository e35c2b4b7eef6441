//! Instants. j0 stores and prints time at whole-second precision, so every instant that enters
//! the domain is truncated once, here.

use time::OffsetDateTime;

/// `at` without its sub-second part, in UTC.
pub fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.replace_nanosecond(0).unwrap_or(utc)
}

/// RFC 3339 with a `Z` and whole seconds: `2026-02-13T23:00:00Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = whole_seconds(at);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn prints_whole_seconds_with_z() {
        let at = datetime!(2026-02-13 23:00:00.987 +02:00);
        assert_eq!(rfc3339(at), "2026-02-13T21:00:00Z");
    }
}
