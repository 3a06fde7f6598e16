//! Points in time as paas stores them: RFC 3339 text in records (releases,
//! builds, add-ons, backups), unix seconds where it counts. Below every
//! other module, so records and workflows read times without reaching up
//! to `commands`.

/// Parses an RFC 3339 time to unix seconds; `None` when the text is not one.
pub fn rfc3339_to_unix(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_reads_as_unix_seconds() {
        assert_eq!(rfc3339_to_unix("2026-11-21T10:00:00Z"), Some(1_795_255_200));
        assert_eq!(rfc3339_to_unix("2026-11-21 10:00"), None);
        assert_eq!(rfc3339_to_unix(""), None);
    }
}
