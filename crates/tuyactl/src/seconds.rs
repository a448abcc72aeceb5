//! Durations on the command line: a number of seconds, whole or decimal (`5`, `0.5`), parsed by
//! clap so every flag refuses the same bad values the same way (and none can panic later in
//! `Duration::from_secs_f64` on a NaN or a huge number).

use std::time::Duration;

/// The longest duration a flag accepts, in seconds (about 31 years).
pub const MAX_SECS: f64 = 1e9;

/// Parses a number of seconds from 0 to [`MAX_SECS`] (clap's value parser).
pub fn parse(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds (like 5 or 0.5)"))?;
    if !(v.is_finite() && (0.0..MAX_SECS).contains(&v)) {
        return Err(format!(
            "{s} is not a number of seconds from 0 to {MAX_SECS:.0}"
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_whole_or_decimal_and_nothing_else() {
        assert_eq!(parse("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bad in ["-1", "nan", "inf", "1e300", "five", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
