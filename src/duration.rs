//! Durations as users write them: `90s`, `30m`, `2h`, `7d`.

/// `90s`, `30m`, `2h`, `7d` as seconds, above zero.
pub fn parse(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a duration: give a number with s, m, h or d, like `30m`");
    let (number, scale) = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        .into_iter()
        .find_map(|(unit, scale)| Some((text.strip_suffix(unit)?, scale)))
        .ok_or_else(bad)?;
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|&secs| secs > 0)
        .ok_or_else(bad)
}

/// Seconds in the largest unit that divides them: `30m`, `90s`.
pub fn human(secs: u64) -> String {
    match secs {
        0 => "0s".to_string(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_in_the_same_units() {
        assert_eq!(parse("30m"), Ok(1800));
        assert_eq!(parse("90s"), Ok(90));
        assert_eq!(parse("2h"), Ok(7200));
        assert_eq!(parse("7d"), Ok(7 * 86_400));
        for bad in [
            "30",
            "m",
            "",
            "0m",
            "-1m",
            "5é",
            "1.5h",
            "99999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(human(1800), "30m");
        assert_eq!(human(90), "90s");
        assert_eq!(human(7200), "2h");
        assert_eq!(human(0), "0s");
    }
}
