//! `logs`: every dyno's output, merged in time order, in Heroku's line
//! format. Dynos write their output to files under the app's `logs/`
//! (podman's k8s-file driver), so lines outlive the containers.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Ctx;
use crate::error::Result;

/// One line of output from one dyno.
#[derive(Debug, PartialEq)]
pub struct LogLine {
    /// RFC 3339 with nanoseconds, as the runtime wrote it; sorts by time in UTC.
    pub timestamp: String,
    pub dyno: String,
    pub message: String,
}

impl LogLine {
    /// `2026-11-21T10:00:00.123456+00:00 app[web.1]: message`
    pub fn heroku_format(&self) -> String {
        format!(
            "{} app[{}]: {}",
            heroku_timestamp(&self.timestamp),
            self.dyno,
            self.message
        )
    }
}

/// Microseconds and an explicit `+00:00`, as Heroku prints them.
fn heroku_timestamp(rfc3339: &str) -> String {
    match time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) {
        Ok(time) => {
            let utc = time.to_offset(time::UtcOffset::UTC);
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
            );
            utc.format(&format).unwrap_or_else(|_| rfc3339.to_string())
        }
        Err(_) => rfc3339.to_string(),
    }
}

/// Parses a k8s-file line: `<time> <stream> <F|P> <message>`.
pub fn parse_line(dyno: &str, line: &str) -> Option<LogLine> {
    let mut parts = line.splitn(4, ' ');
    let timestamp = parts.next()?;
    let _stream = parts.next()?;
    let _tag = parts.next()?;
    let message = parts.next().unwrap_or_default();
    Some(LogLine {
        timestamp: timestamp.to_string(),
        dyno: dyno.to_string(),
        message: message.to_string(),
    })
}

/// `web.1` from `web.1.3f2a9c1b.log`.
fn dyno_of_file(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.strip_suffix(".log")?;
    let (dyno, _suffix) = name.rsplit_once('.')?;
    Some(dyno.to_string())
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect()
}

fn sort_key(line: &LogLine) -> i128 {
    time::OffsetDateTime::parse(
        &line.timestamp,
        &time::format_description::well_known::Rfc3339,
    )
    .map_or(0, |t| t.unix_timestamp_nanos())
}

pub fn show(ctx: &Ctx, num: usize, tail: bool) -> Result<()> {
    let app = ctx.app()?;
    let dir = app.logs_dir();
    let mut offsets: HashMap<PathBuf, u64> = HashMap::new();
    let mut lines = Vec::new();
    for path in log_files(&dir) {
        let Some(dyno) = dyno_of_file(&path) else {
            continue;
        };
        // Dynos may print any bytes: show them lossily rather than not at all.
        let bytes = fs::read(&path).unwrap_or_default();
        offsets.insert(path.clone(), bytes.len() as u64);
        let text = String::from_utf8_lossy(&bytes);
        lines.extend(text.lines().filter_map(|l| parse_line(&dyno, l)));
    }
    lines.sort_by_key(sort_key);
    let skip = lines.len().saturating_sub(num);
    for line in &lines[skip..] {
        println!("{}", line.heroku_format());
    }
    if !tail {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let mut fresh = Vec::new();
        for path in log_files(&dir) {
            let Some(dyno) = dyno_of_file(&path) else {
                continue;
            };
            let offset = offsets.entry(path.clone()).or_insert(0);
            let Ok(mut file) = fs::File::open(&path) else {
                continue;
            };
            if file.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            // Only whole lines: a partial last line is read again next time.
            let complete = text.rfind('\n').map_or(0, |i| i + 1);
            *offset += complete as u64;
            fresh.extend(
                text[..complete]
                    .lines()
                    .filter_map(|l| parse_line(&dyno, l)),
            );
        }
        fresh.sort_by_key(sort_key);
        for line in fresh {
            println!("{}", line.heroku_format());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_lines_as_heroku_does() {
        let line = parse_line(
            "web.1",
            "2026-11-21T10:00:00.123456789+00:00 stdout F GET / 200",
        )
        .unwrap();
        assert_eq!(
            line.heroku_format(),
            "2026-11-21T10:00:00.123456+00:00 app[web.1]: GET / 200"
        );
        let shifted = parse_line("web.1", "2026-11-21T11:00:00.5+01:00 stderr F x").unwrap();
        assert_eq!(
            shifted.heroku_format(),
            "2026-11-21T10:00:00.500000+00:00 app[web.1]: x"
        );
    }

    #[test]
    fn file_names_give_the_dyno() {
        assert_eq!(
            dyno_of_file(Path::new("/x/web.1.3f2a9c1b.log")).as_deref(),
            Some("web.1")
        );
        assert_eq!(
            dyno_of_file(Path::new("/x/worker.12.ab.log")).as_deref(),
            Some("worker.12")
        );
        assert_eq!(dyno_of_file(Path::new("/x/notes.txt")), None);
    }
}
