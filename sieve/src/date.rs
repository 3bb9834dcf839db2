//! RFC 5260 date parts: dates from headers (mail-parser reads RFC 2822 dates), shifted into
//! a zone, then formatted part by part.

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

/// The date parts `date` and `currentdate` know.
pub const PARTS: &[&str] = &[
    "year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601", "std11", "zone",
    "weekday",
];

/// A moment with the zone it is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Offset of the zone east of UTC, in minutes.
    pub offset: i32,
}

/// `+hhmm` / `-hhmm` as minutes.
pub fn parse_zone(z: &str) -> Option<i32> {
    let b = z.as_bytes();
    if b.len() != 5 || !matches!(b[0], b'+' | b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h: i32 = z[1..3].parse().ok()?;
    let m: i32 = z[3..5].parse().ok()?;
    if h > 23 || m > 59 {
        return None;
    }
    Some(if b[0] == b'-' { -(h * 60 + m) } else { h * 60 + m })
}

/// The date in a header value; for `Received` the part after the last `;`.
pub fn from_header(name: &str, raw: &str) -> Option<Moment> {
    let text = if name.eq_ignore_ascii_case("received") { raw.rsplit_once(';')?.1 } else { raw };
    let mut bytes = text.trim_start().as_bytes().to_vec();
    bytes.extend_from_slice(b"\r\n");
    let HeaderValue::DateTime(dt) = MessageStream::new(&bytes).parse_date() else { return None };
    if !dt.is_valid() {
        return None;
    }
    let sign = if dt.tz_before_gmt { -1 } else { 1 };
    let offset = sign * (i32::from(dt.tz_hour) * 60 + i32::from(dt.tz_minute));
    Some(Moment { unix: dt.to_timestamp(), offset })
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's civil_from_days.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// One date part of `m` shown in its zone.
pub fn part(m: Moment, part: &str) -> Option<String> {
    let local = m.unix + i64::from(m.offset) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let zone = format!(
        "{}{:02}{:02}",
        if m.offset < 0 { '-' } else { '+' },
        m.offset.abs() / 60,
        m.offset.abs() % 60
    );
    let weekday = (days + 4).rem_euclid(7);
    Some(match part {
        "year" => format!("{y:04}"),
        "month" => format!("{mo:02}"),
        "day" => format!("{d:02}"),
        "date" => format!("{y:04}-{mo:02}-{d:02}"),
        // Modified Julian Day: 1970-01-01 is MJD 40587.
        "julian" => (days + 40_587).to_string(),
        "hour" => format!("{h:02}"),
        "minute" => format!("{mi:02}"),
        "second" => format!("{s:02}"),
        "time" => format!("{h:02}:{mi:02}:{s:02}"),
        "iso8601" => {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{}:{}", &zone[..3], &zone[3..])
        }
        "std11" => {
            const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
            const MONTHS: [&str; 12] =
                ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            format!(
                "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} {zone}",
                DAYS[weekday as usize],
                MONTHS[mo as usize - 1]
            )
        }
        "zone" => zone,
        "weekday" => weekday.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let m = from_header("date", "Tue, 1 Apr 1997 09:06:31 -0800 (PST)").unwrap();
        assert_eq!(m.offset, -480);
        assert_eq!(part(m, "date").unwrap(), "1997-04-01");
        assert_eq!(part(m, "time").unwrap(), "09:06:31");
        assert_eq!(part(m, "weekday").unwrap(), "2");
        assert_eq!(part(m, "zone").unwrap(), "-0800");
        assert_eq!(part(m, "julian").unwrap(), "50539");
        assert_eq!(part(m, "iso8601").unwrap(), "1997-04-01T09:06:31-08:00");
        let utc = Moment { offset: 0, ..m };
        assert_eq!(part(utc, "std11").unwrap(), "Tue, 01 Apr 1997 17:06:31 +0000");
        assert_eq!(parse_zone("+0530"), Some(330));
        assert_eq!(parse_zone("0530"), None);
        let r = from_header("received", "from x by y; Wed, 2 Jan 2002 03:04:05 +0000").unwrap();
        assert_eq!(part(r, "hour").unwrap(), "03");
        assert!(from_header("date", "garbage").is_none());
    }
}
