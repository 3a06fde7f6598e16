//! The app's log stream, one per app, under `apps/<app>/logs/`:
//! - dyno output, written by podman's k8s-file driver, one file per dyno
//!   container (`web.1.<id>.log`), so lines outlive the containers;
//! - platform events, written by paas to `platform.log`
//!   (`paas[api]: Release v7 created by admin`, `paas[web.1]: State changed…`).
//!
//! Read back merged in time order, in Heroku's line format:
//! `2026-11-21T10:00:00.123456+00:00 app[web.1]: message`.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::state::AppDir;

pub mod drain;

const PLATFORM_FILE: &str = "platform.log";
/// The rotated platform log: kept once, not read by `paas logs`.
const PLATFORM_OLD: &str = "platform.log.1";
/// How much of its stream an app keeps by default: well over 100,000 lines.
pub const DEFAULT_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// Longer lines are split, as Heroku's logplex does.
const MAX_LINE: usize = 10_000;

/// One line of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Nanoseconds since the epoch, for ordering.
    pub at: i128,
    /// `app` for dyno output, `paas` for the platform.
    pub source: String,
    /// `web.1`, `run.2`, `api`, `router`.
    pub dyno: String,
    pub message: String,
}

impl LogLine {
    /// `2026-11-21T10:00:00.123456+00:00 app[web.1]: message`
    pub fn heroku_format(&self) -> String {
        format!(
            "{} {}[{}]: {}",
            heroku_timestamp(self.at),
            self.source,
            self.dyno,
            self.message
        )
    }
}

fn heroku_timestamp(nanos: i128) -> String {
    let Ok(time) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return "?".into();
    };
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    time.format(&format).unwrap_or_default()
}

/// Nanoseconds since the epoch of an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<i128> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

/// Appends a platform line (`paas[<dyno>]: <message>`) to the app's stream.
/// Best effort: a full disk must not fail the operation being logged.
pub fn platform(app: &AppDir, dyno: &str, message: &str) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    platform_lines(app, &[(now, dyno.to_string(), message.to_string())]);
}

/// Appends several platform lines `(nanos, dyno, message)` in one write.
pub fn platform_lines(app: &AppDir, lines: &[(i128, String, String)]) {
    let mut text = String::new();
    for (at, dyno, message) in lines {
        push_platform_line(&mut text, *at, dyno, message);
    }
    append_platform_text(app, &text);
}

/// Adds a platform line to `text`, for `append_platform_text`; a long
/// message becomes several lines.
pub fn push_platform_line(text: &mut String, at: i128, dyno: &str, message: &str) {
    use std::fmt::Write;
    for chunk in split_long(message) {
        let _ = writeln!(text, "{at} {dyno} {chunk}");
    }
}

/// Appends lines made by `push_platform_line` to the app's stream.
pub fn append_platform_text(app: &AppDir, text: &str) {
    let _ = fs::create_dir_all(app.logs_dir());
    if let Ok(mut file) = OpenOptions::new()
        .create(true)
        .append(true)
        .open(app.logs_dir().join(PLATFORM_FILE))
    {
        // One write per event: appends from several processes do not interleave.
        let _ = file.write_all(text.as_bytes());
    }
}

fn split_long(message: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = message;
    while rest.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        chunks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    chunks.push(rest);
    chunks
}

/// Parses a platform line: `<nanos> <dyno> <message>`.
fn parse_platform(line: &str) -> Option<LogLine> {
    let mut parts = line.splitn(3, ' ');
    Some(LogLine {
        at: parts.next()?.parse().ok()?,
        source: "paas".into(),
        dyno: parts.next()?.to_string(),
        message: parts.next().unwrap_or_default().to_string(),
    })
}

/// Parses a k8s-file line: `<RFC 3339 time> <stream> <F|P> <message>`.
fn parse_dyno(dyno: &str, line: &str) -> Option<LogLine> {
    let mut parts = line.splitn(4, ' ');
    let at = parse_time(parts.next()?)?;
    let _stream = parts.next()?;
    let _tag = parts.next()?;
    Some(LogLine {
        at,
        source: "app".into(),
        dyno: dyno.to_string(),
        message: parts.next().unwrap_or_default().to_string(),
    })
}

/// `web.1` from `web.1.3f2a9c1b.log`.
fn dyno_of_file(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?.strip_suffix(".log")?;
    let (dyno, _suffix) = name.rsplit_once('.')?;
    Some(dyno.to_string())
}

fn parse_lines(path: &Path, text: &str) -> Vec<LogLine> {
    if path.file_name().is_some_and(|n| n == PLATFORM_FILE) {
        return text.lines().filter_map(parse_platform).collect();
    }
    let Some(dyno) = dyno_of_file(path) else {
        return Vec::new();
    };
    text.lines()
        .flat_map(|line| {
            split_long(line)
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|line| parse_dyno(&dyno, &line))
        .collect()
}

/// Which lines to show: `-p web`, `-d web.1`, `-s app|paas`.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub process_type: Option<String>,
    pub dyno: Option<String>,
    pub source: Option<String>,
}

impl Filter {
    pub fn matches(&self, line: &LogLine) -> bool {
        let type_ok = self.process_type.as_ref().is_none_or(|t| {
            line.dyno == *t
                || line
                    .dyno
                    .strip_prefix(t.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        });
        let dyno_ok = self.dyno.as_ref().is_none_or(|d| line.dyno == *d);
        let source_ok = self.source.as_ref().is_none_or(|s| line.source == *s);
        type_ok && dyno_ok && source_ok
    }
}

/// Reads the stream from the start, then what is new on each call; new
/// dyno files are picked up as dynos start.
pub struct Reader {
    dir: PathBuf,
    /// Per file: its inode (a rotated file is a new one) and how far it was read.
    offsets: HashMap<PathBuf, (u64, u64)>,
}

impl Reader {
    pub fn new(app: &AppDir) -> Reader {
        Reader {
            dir: app.logs_dir(),
            offsets: HashMap::new(),
        }
    }

    /// A reader that skips what is already there: only new lines.
    pub fn at_end(app: &AppDir) -> Reader {
        let mut reader = Reader::new(app);
        if let Ok(entries) = fs::read_dir(&reader.dir) {
            for entry in entries.flatten() {
                if let Ok(meta) = entry.metadata() {
                    reader
                        .offsets
                        .insert(entry.path(), (meta.ino(), meta.len()));
                }
            }
        }
        reader
    }

    /// A reader that starts near the end: each file's last `bytes` or so,
    /// from the first whole line in them (the dashboard's tail, which
    /// need not read a 64 MB stream to show its last lines).
    pub fn near_end(app: &AppDir, bytes: u64) -> Reader {
        let mut reader = Reader::new(app);
        let Ok(entries) = fs::read_dir(&reader.dir) else {
            return reader;
        };
        for entry in entries.flatten() {
            let (Ok(mut file), Ok(meta)) = (fs::File::open(entry.path()), entry.metadata()) else {
                continue;
            };
            let mut start = meta.len().saturating_sub(bytes);
            if start > 0 {
                let mut part = Vec::new();
                let read = file
                    .seek(SeekFrom::Start(start))
                    .and_then(|_| (&mut file).take(bytes).read_to_end(&mut part));
                match (read, part.iter().position(|b| *b == b'\n')) {
                    (Ok(_), Some(newline)) => start += newline as u64 + 1,
                    _ => start = meta.len(),
                }
            }
            reader.offsets.insert(entry.path(), (meta.ino(), start));
        }
        reader
    }

    /// Complete lines written since the last call, in time order.
    pub fn read_new(&mut self) -> Vec<LogLine> {
        let mut lines = Vec::new();
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return lines;
        };
        let paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        // Forget files that are gone (pruned, rotated away).
        self.offsets.retain(|path, _| paths.contains(path));
        for path in paths {
            let Ok(mut file) = fs::File::open(&path) else {
                continue;
            };
            let Ok(meta) = file.metadata() else { continue };
            let (inode, offset) = self.offsets.entry(path.clone()).or_insert((meta.ino(), 0));
            // A file renamed over this path (rotation) or truncated starts over.
            if *inode != meta.ino() || meta.len() < *offset {
                *inode = meta.ino();
                *offset = 0;
            }
            if file.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            // Only whole lines: a partial last line is read again next time.
            let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            *offset += complete as u64;
            // Dynos may print any bytes: show them lossily rather than not at all.
            lines.extend(parse_lines(
                &path,
                &String::from_utf8_lossy(&bytes[..complete]),
            ));
        }
        lines.sort_by_key(|l| l.at);
        lines
    }
}

/// Keeps the app's stream within `limit` bytes: the platform log is rotated
/// past a quarter of it, then the oldest files of dynos that are gone
/// (`live` names the files of running dynos) are removed.
pub fn enforce_limit(app: &AppDir, live: &std::collections::HashSet<String>, limit: u64) {
    let dir = app.logs_dir();
    let platform = dir.join(PLATFORM_FILE);
    if fs::metadata(&platform).is_ok_and(|m| m.len() > limit / 4) {
        let _ = fs::rename(&platform, dir.join(PLATFORM_OLD));
    }
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf, bool)> = entries
        .flatten()
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let removable =
                name.ends_with(".log") && name != PLATFORM_FILE && !live.contains(&name);
            Some((meta.modified().ok()?, meta.len(), entry.path(), removable))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort_by_key(|f| f.0);
    for (_, size, path, removable) in files {
        if total <= limit {
            break;
        }
        if removable && fs::remove_file(&path).is_ok() {
            total -= size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AppName, Root};

    #[test]
    fn dyno_lines_in_heroku_format() {
        let line = parse_dyno(
            "web.1",
            "2026-11-21T11:00:00.123456789+01:00 stdout F GET / 200",
        )
        .unwrap();
        assert_eq!(
            line.heroku_format(),
            "2026-11-21T10:00:00.123456+00:00 app[web.1]: GET / 200"
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

    #[test]
    fn platform_and_dyno_lines_merge_in_time_order_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let app = Root::new(dir.path()).app(&AppName::parse("demo").unwrap());
        fs::create_dir_all(app.logs_dir()).unwrap();
        fs::write(
            app.logs_dir().join("web.1.aa.log"),
            "2026-11-21T10:00:00.000000002Z stdout F second\n2026-11-21T10:00:00.000000004Z stdout F fourth\npartial",
        )
        .unwrap();
        fs::write(
            app.logs_dir().join("web.2.bb.log"),
            "2026-11-21T10:00:00.000000003Z stdout F third\n",
        )
        .unwrap();
        platform(&app, "api", "Release v1 created by admin");
        let mut reader = Reader::new(&app);
        let lines = reader.read_new();
        let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(
            messages,
            ["second", "third", "fourth", "Release v1 created by admin"]
        );
        assert_eq!(lines[3].source, "paas");
        assert!(
            reader.read_new().is_empty(),
            "nothing new, and the partial line waits"
        );

        let only_web1 = Filter {
            dyno: Some("web.1".into()),
            ..Filter::default()
        };
        assert_eq!(lines.iter().filter(|l| only_web1.matches(l)).count(), 2);
        let only_web = Filter {
            process_type: Some("web".into()),
            ..Filter::default()
        };
        assert_eq!(lines.iter().filter(|l| only_web.matches(l)).count(), 3);
        let only_paas = Filter {
            source: Some("paas".into()),
            ..Filter::default()
        };
        assert_eq!(lines.iter().filter(|l| only_paas.matches(l)).count(), 1);
    }

    #[test]
    fn the_limit_removes_the_oldest_files_of_dynos_that_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let app = Root::new(dir.path()).app(&AppName::parse("demo").unwrap());
        fs::create_dir_all(app.logs_dir()).unwrap();
        let write = |name: &str, size: usize| {
            fs::write(app.logs_dir().join(name), vec![b'x'; size]).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        write("web.1.old.log", 400);
        write("web.1.live.log", 400);
        write("web.2.gone.log", 400);
        write("platform.log", 400);
        let live = std::collections::HashSet::from(["web.1.live.log".to_string()]);
        // 1,600 bytes: the platform log is rotated (it counts still), and the
        // oldest dead dyno's file goes; the live one stays whatever its age.
        enforce_limit(&app, &live, 1200);
        let mut left: Vec<String> = fs::read_dir(app.logs_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["platform.log.1", "web.1.live.log", "web.2.gone.log"]);
    }

    #[test]
    fn a_truncated_file_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let app = Root::new(dir.path()).app(&AppName::parse("demo").unwrap());
        fs::create_dir_all(app.logs_dir()).unwrap();
        let file = app.logs_dir().join("web.1.aa.log");
        fs::write(&file, "2026-11-21T10:00:00Z stdout F a long first line\n").unwrap();
        let mut reader = Reader::new(&app);
        assert_eq!(reader.read_new().len(), 1);
        fs::write(&file, "2026-11-21T10:00:01Z stdout F b\n").unwrap();
        let lines = reader.read_new();
        assert_eq!(
            lines.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
    }

    #[test]
    fn a_file_renamed_over_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let app = Root::new(dir.path()).app(&AppName::parse("demo").unwrap());
        fs::create_dir_all(app.logs_dir()).unwrap();
        let file = app.logs_dir().join("web.1.aa.log");
        fs::write(&file, "2026-11-21T10:00:00Z stdout F a\n").unwrap();
        let mut reader = Reader::new(&app);
        assert_eq!(reader.read_new().len(), 1);
        // As conmon rotates: a new, longer file renamed over the old one.
        let fresh = app.logs_dir().join("web.1.aa.log.tmp");
        fs::write(
            &fresh,
            "2026-11-21T10:00:01Z stdout F b\n2026-11-21T10:00:02Z stdout F c\n",
        )
        .unwrap();
        fs::rename(&fresh, &file).unwrap();
        let messages: Vec<String> = reader.read_new().into_iter().map(|l| l.message).collect();
        assert_eq!(messages, ["b", "c"]);
    }

    #[test]
    fn long_lines_are_split() {
        let long = "x".repeat(MAX_LINE * 2 + 5);
        let chunks = split_long(&long);
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [MAX_LINE, MAX_LINE, 5]
        );
    }
}
