//! Instants. j0 stores and prints time at whole-second precision, so every instant that enters
//! the domain is truncated once, here.

use time::OffsetDateTime;

/// `at` without its sub-second part, in UTC.
pub fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.replace_nanosecond(0).unwrap_or(utc)
}

/// RFC 3339 with a `Z` and whole seconds: `2026-02-13T23:00:00Z`.
///
/// ```
/// use j0_domain::time::rfc3339;
/// use time::macros::datetime;
///
/// // Any offset is printed in UTC, and the fraction of a second is dropped.
/// assert_eq!(rfc3339(datetime!(2026-02-14 01:00:00.987 +02:00)), "2026-02-13T23:00:00Z");
/// ```
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = whole_seconds(at);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.format(&format).unwrap_or_default()
}

/// Serde for instants as [`rfc3339`] prints them, for `#[serde(with = "…")]`: reads any RFC 3339
/// time and keeps it at whole seconds in UTC.
pub mod serde_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::{OffsetDateTime, format_description::well_known::Rfc3339};

    /// Writes `at` as `2026-02-13T23:00:00Z`.
    pub fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*at))
    }

    /// Reads an RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339)
            .map(super::whole_seconds)
            .map_err(serde::de::Error::custom)
    }

    /// The same for an optional instant (`null` when absent).
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        /// Writes `at`, or `null`.
        pub fn serialize<S: Serializer>(
            at: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, s),
                None => s.serialize_none(),
            }
        }

        /// Reads an RFC 3339 time or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            #[derive(Deserialize)]
            struct At(#[serde(with = "super")] OffsetDateTime);
            Ok(Option::<At>::deserialize(d)?.map(|At(at)| at))
        }
    }
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

    #[test]
    fn reads_back_what_it_prints() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct At(#[serde(with = "serde_rfc3339")] OffsetDateTime);
        let at = At(datetime!(2026-02-13 23:00:00 UTC));
        let text = serde_json::to_string(&at).unwrap();
        assert_eq!(text, "\"2026-02-13T23:00:00Z\"");
        assert_eq!(serde_json::from_str::<At>(&text).unwrap(), at);
        assert!(serde_json::from_str::<At>("\"yesterday\"").is_err());
    }
}
