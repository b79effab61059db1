//! The UTC date and time of a report, from the product's own timestamp formatting.

/// `YYYY-MM-DD HH:MM UTC` for the current time.
pub fn now_utc() -> String {
    format_utc(scim_schema::time::now_millis() / 1000)
}

/// `YYYY-MM-DD HH:MM UTC` for `secs` seconds after the Unix epoch.
pub fn format_utc(secs: i64) -> String {
    // `2020-03-31T02:36:15Z` cut to the minute.
    let stamp = scim_schema::time::format_datetime(secs.saturating_mul(1000));
    format!("{} UTC", stamp.get(..16).unwrap_or(&stamp).replacen('T', " ", 1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(format_utc(-86_400), "1969-12-31 00:00 UTC");
    }
}
