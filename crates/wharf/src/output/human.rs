//! Sizes and durations formatted exactly as Docker's `go-units` does, so scripts and eyes
//! used to `docker images` read wharf's output the same way.

use chrono::{DateTime, Utc};

/// go-units `HumanSizeWithPrecision(size, 3)`: decimal units, three significant digits
/// (`121MB`, `1.99MB`, `0B`), Go's `%g` quirks included.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_g(value, 3), UNITS[unit])
}

/// Go's `%.{precision}g`.
fn go_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let scientific = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = scientific.split_once('e').expect("exponent");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    if exponent < -4 || exponent >= precision as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// go-units `HumanDuration` + " ago", or `N/A` for an image without a creation time.
pub fn since(created: Option<&str>, now: DateTime<Utc>) -> String {
    let Some(created) = created.and_then(|c| DateTime::parse_from_rfc3339(c).ok()) else {
        return "N/A".into();
    };
    let elapsed = now.signed_duration_since(created.with_timezone(&Utc));
    format!(
        "{} ago",
        duration(elapsed.num_milliseconds().max(0) as f64 / 1000.0)
    )
}

fn duration(seconds_f: f64) -> String {
    let seconds = seconds_f as i64;
    let minutes = (seconds_f / 60.0) as i64;
    let hours = (seconds_f / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (seconds_f / 3600.0) as i64 / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        let cases = [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (1985536, "1.99MB"),
            (51126553, "51.1MB"),
            (121415680, "121MB"),
            (999_500, "1e+03kB"),
            (117_000_000, "117MB"),
            (5_590_000_000, "5.59GB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn durations_match_go_units() {
        let cases = [
            (0.5, "Less than a second"),
            (1.0, "1 second"),
            (59.0, "59 seconds"),
            (60.0, "About a minute"),
            (3599.0, "59 minutes"),
            (3600.0, "About an hour"),
            (47.0 * 3600.0, "47 hours"),
            (13.0 * 86400.0, "13 days"),
            (20.0 * 86400.0, "2 weeks"),
            (90.0 * 86400.0, "3 months"),
            (800.0 * 86400.0, "2 years"),
        ];
        for (secs, want) in cases {
            assert_eq!(duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn since_handles_missing_and_bad_times() {
        let now = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(since(None, now), "N/A");
        assert_eq!(since(Some("yesterday"), now), "N/A");
        assert_eq!(since(Some("2026-01-01T00:00:00.5Z"), now), "24 hours ago");
    }
}
