//! Timestamps: stored as Unix milliseconds, shown as GitLab does
//! (`2024-05-30T12:28:27.855Z`).

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

const ISO_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const DATE: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]");

pub const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

pub fn iso8601(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(ISO_MILLIS).ok())
        .unwrap_or_default()
}

/// `YYYY-MM-DD` of the UTC day `millis` falls in.
pub fn date(millis: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(millis as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.date().format(DATE).ok())
        .unwrap_or_default()
}

const COMPACT: &[FormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]");

/// Parses Maven's `yyyyMMddHHmmss` (UTC) to Unix milliseconds.
pub fn parse_compact(value: &str) -> Option<i64> {
    let parsed = time::PrimitiveDateTime::parse(value, COMPACT).ok()?;
    Some(parsed.assume_utc().unix_timestamp() * 1000)
}

/// Parses `YYYY-MM-DD` to the millisecond at which that UTC day starts.
pub fn parse_date(value: &str) -> Option<i64> {
    let date = Date::parse(value, DATE).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_gitlab() {
        assert_eq!(iso8601(1_717_072_107_855), "2024-05-30T12:28:27.855Z");
        assert_eq!(date(1_717_072_107_855), "2024-05-30");
        assert_eq!(parse_date("2024-05-30"), Some(1_717_027_200_000));
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("tomorrow"), None);
    }
}
