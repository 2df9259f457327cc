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
