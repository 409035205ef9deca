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

/// RFC 9110's HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), as
/// `Last-Modified` wants it. Put together by hand: every cached Maven read
/// sends one, and `time`'s formatter cost it ~1.5% of its instructions.
pub fn http_date(millis: i64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let Ok(t) = OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)) else {
        return String::new();
    };
    let Ok(year) = u16::try_from(t.year()) else {
        return String::new();
    };
    let mut out = String::with_capacity(29);
    out.push_str(DAYS[t.weekday().number_days_from_monday() as usize]);
    out.push_str(", ");
    push_digits(&mut out, u16::from(t.day()), 2);
    out.push(' ');
    out.push_str(MONTHS[u8::from(t.month()) as usize - 1]);
    out.push(' ');
    push_digits(&mut out, year, 4);
    for (separator, value) in [(' ', t.hour()), (':', t.minute()), (':', t.second())] {
        out.push(separator);
        push_digits(&mut out, u16::from(value), 2);
    }
    out.push_str(" GMT");
    out
}

/// `value`'s last `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, value: u16, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (value / 10u16.pow(place) % 10) as u8));
    }
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

    #[test]
    fn formats_http_dates() {
        // RFC 9110's own example, a leap day, the epoch and a year < 1000.
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            http_date(1_709_251_199_999),
            "Thu, 29 Feb 2024 23:59:59 GMT"
        );
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(-30_641_760_000_000),
            "Tue, 01 Jan 0999 00:00:00 GMT"
        );
        assert_eq!(http_date(i64::MAX), "");
    }
}
