//! Local civil time as conda's history writes it (`YYYY-MM-DD HH:MM:SS`)
//! and the calendar arithmetic for instants given in UTC: text in, text
//! out, the time zone the C library's ([`crate::system::sys`]).
#![forbid(unsafe_code)]

use crate::system::sys::{epoch_to_local, local_to_epoch, LocalTime};

/// `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DD`, midnight) as history and
/// `--since` write local times.
pub fn parse_local(text: &str) -> Option<LocalTime> {
    let text = text.trim();
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i32>().ok();
    let date = [number(0..4)?, number(5..7)?, number(8..10)?];
    let clock = if text.len() == 10 {
        [0, 0, 0]
    } else {
        [number(11..13)?, number(14..16)?, number(17..19)?]
    };
    Some([date[0], date[1], date[2], clock[0], clock[1], clock[2]])
}

/// The local time of `epoch` as `YYYY-MM-DD HH:MM:SS`.
pub fn format_local(epoch: i64) -> String {
    epoch_to_local(epoch).map_or_else(
        || format!("@{epoch}"),
        |[y, mo, d, h, mi, s]| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
    )
}

/// Seconds since the epoch of a local `YYYY-MM-DD[ HH:MM:SS]`.
pub fn local_epoch(text: &str) -> Option<i64> {
    local_to_epoch(parse_local(text)?)
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's
/// days_from_civil).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Seconds since the epoch of an RFC 3339 time with its offset
/// (`2026-11-30T13:24:55.123456+01:00`, `…Z`, `…+0100`); a fraction of a
/// second is dropped.
pub fn iso_epoch(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if text.len() < 19
        || !text.is_ascii()
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        rest = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            // HH:MM or HHMM, read without allocating (a log has millions)
            let zone = &rest.as_bytes()[1..];
            let (h, m) = match zone {
                [a, b, b':', c, d] | [a, b, c, d] => ([*a, *b], [*c, *d]),
                _ => return None,
            };
            let two = |d: [u8; 2]| -> Option<i64> {
                (d[0].is_ascii_digit() && d[1].is_ascii_digit())
                    .then(|| i64::from(d[0] - b'0') * 10 + i64::from(d[1] - b'0'))
            };
            sign * (two(h)? * 3600 + two(m)? * 60)
        }
    };
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    Some(days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)? - offset)
}

/// This year, in local time.
pub fn current_year() -> i32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    epoch_to_local(now).map_or(1970, |t| t[0])
}

/// Today in UTC, as `YYYY-MM-DD`: a date the caller's `TZ` cannot move
/// (an `until` day is the same day for everyone).
pub fn today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = civil_from_days(now.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard
/// Hinnant's civil_from_days), the inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip() {
        for (y, m, d) in [
            (1970, 1, 1),
            (2000, 2, 29),
            (2026, 11, 30),
            (2027, 1, 31),
            (1969, 12, 31),
        ] {
            assert_eq!(civil_from_days(days_from_civil(y, m, d)), (y, m, d));
        }
        assert_eq!(today().len(), 10);
    }
}
