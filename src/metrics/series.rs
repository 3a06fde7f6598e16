//! The metrics on disk: one file per app per UTC day,
//! `apps/<app>/metrics/<YYYY-MM-DD>.bin`, under the app's directory so
//! they follow `apps:rename` and go with `apps:destroy`.
//!
//! A file is the 8 bytes `PAASMT01`, then records, each a little-endian
//! u32 length and that many bytes of postcard (serde's compact binary
//! form: varints, so a count of 3 takes one byte). A record is an app's
//! counts for part of a minute, or one dyno's usage in a minute. The
//! daemon appends what it counted every few seconds; the records of one
//! minute add up when read (counts and histograms merge by adding), so a
//! flush never rewrites anything and a daemon restart loses at most the
//! seconds since the last flush. A day that is over is compacted once:
//! its records merged to one per minute and written over it atomically
//! (a busy app's day is then 1440 records of ~110 bytes, ~160 KB).
//!
//! A crash can leave a torn record at a file's end (or zeros, after a
//! power cut): reading stops at the first record that does not decode,
//! and the writer cuts a file back to its last whole record before it
//! first appends to it. Files of days that ended over `KEEP_DAYS` days
//! ago are deleted.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;
use crate::error::{Context, Result};

const MAGIC: &[u8; 8] = b"PAASMT01";
/// A record longer than this is not one (a torn length, garbage).
const MAX_RECORD: usize = 1 << 20;
/// Days kept after the one under way.
pub const KEEP_DAYS: u64 = 7;
pub const DAY: u64 = 86_400;
/// A day is compacted once its last flush is surely in: this long after
/// it ended.
const COMPACT_AFTER: u64 = 300;

/// What an app's requests did in (part of) one minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppMinute {
    /// The minute's start, unix seconds.
    pub start: u64,
    pub requests: u64,
    /// 2xx, 3xx, 4xx, 5xx (1xx, an upgrade's 101, counts as 2xx: it worked).
    pub status: [u64; 4],
    /// Router error codes (`H12`) and how often.
    pub router_errors: BTreeMap<String, u64>,
    pub bytes_out: u64,
    /// Service times.
    pub histogram: Histogram,
}

impl AppMinute {
    /// Adds another part of the same minute (or of the same chart bucket).
    pub fn merge(&mut self, other: &AppMinute) {
        self.requests += other.requests;
        for (mine, theirs) in self.status.iter_mut().zip(other.status) {
            *mine += theirs;
        }
        for (code, count) in &other.router_errors {
            *self.router_errors.entry(code.clone()).or_default() += count;
        }
        self.bytes_out += other.bytes_out;
        self.histogram.merge(&other.histogram);
    }
}

/// One dyno's usage, sampled once a minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynoMinute {
    pub start: u64,
    /// `web.1`.
    pub dyno: String,
    pub rss_bytes: u64,
    /// The memory limit its cgroup enforces, if any.
    pub quota_bytes: Option<u64>,
    /// Of one CPU, over the minute before the sample.
    pub cpu_percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    App(AppMinute),
    Dyno(DynoMinute),
}

impl Record {
    pub fn start(&self) -> u64 {
        match self {
            Record::App(minute) => minute.start,
            Record::Dyno(minute) => minute.start,
        }
    }
}

pub fn dir_of(app_dir: &Path) -> PathBuf {
    app_dir.join("metrics")
}

/// The file holding the day of `at` (unix seconds).
pub fn day_file(metrics_dir: &Path, at: u64) -> PathBuf {
    metrics_dir.join(format!("{}.bin", day_name(at / DAY)))
}

fn day_name(day: u64) -> String {
    let date = time::OffsetDateTime::UNIX_EPOCH.date() + time::Duration::days(day as i64);
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The day (since the epoch) a file's name says, if it is a day file.
fn day_of_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".bin")?;
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(stem, &format).ok()?;
    let days = (date - time::OffsetDateTime::UNIX_EPOCH.date()).whole_days();
    u64::try_from(days).ok()
}

/// The whole records of a day file (none when it does not exist), and
/// where the last whole one ends.
pub fn read_file(path: &Path) -> Result<(Vec<Record>, u64)> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(err) => return Err(err).context(|| format!("reading `{}`", path.display())),
    };
    if !bytes.starts_with(MAGIC) {
        return Ok((Vec::new(), 0));
    }
    let mut records = Vec::new();
    let mut at = MAGIC.len();
    while let Some(length) = bytes.get(at..at + 4) {
        let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
        let Some(body) = bytes.get(at + 4..at + 4 + length) else {
            break;
        };
        if length == 0 || length > MAX_RECORD {
            break;
        }
        let Ok(record) = postcard::from_bytes::<Record>(body) else {
            break;
        };
        records.push(record);
        at += 4 + length;
    }
    Ok((records, at as u64))
}

fn encode(records: &[Record], into: &mut Vec<u8>) {
    for record in records {
        let body = postcard::to_stdvec(record).expect("records serialize");
        into.extend_from_slice(&(body.len() as u32).to_le_bytes());
        into.extend_from_slice(&body);
    }
}

/// Appends records to the app's day files, making the metrics directory
/// (never the app's: an app renamed or destroyed meanwhile gets no new
/// directory). `checked` holds the files this process has cut back to
/// their last whole record already.
pub fn append(
    app_dir: &Path,
    records: &[Record],
    checked: &mut std::collections::HashSet<PathBuf>,
) -> Result<()> {
    let dir = dir_of(app_dir);
    if !dir.is_dir() {
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err).context(|| format!("creating `{}`", dir.display())),
        }
    }
    let mut by_day: BTreeMap<u64, Vec<Record>> = BTreeMap::new();
    for record in records {
        by_day
            .entry(record.start() / DAY)
            .or_default()
            .push(record.clone());
    }
    for (day, records) in by_day {
        let path = day_file(&dir, day * DAY);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(&path)
            .context(|| format!("opening `{}`", path.display()))?;
        let mut bytes = Vec::new();
        let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        if length == 0 {
            bytes.extend_from_slice(MAGIC);
        } else if !checked.contains(&path) {
            cut_to_whole_records(&path, &file, length)?;
        }
        checked.insert(path.clone());
        encode(&records, &mut bytes);
        (&file)
            .write_all(&bytes)
            .context(|| format!("writing `{}`", path.display()))?;
    }
    Ok(())
}

/// Cuts a torn record off a file's end, so what is appended next is read.
fn cut_to_whole_records(path: &Path, file: &File, length: u64) -> Result<()> {
    let (_, end) = read_file(path)?;
    if end == 0 {
        // Not a metrics file at all: start it again.
        file.set_len(0)
            .and_then(|()| (&*file).write_all(MAGIC))
            .context(|| format!("resetting `{}`", path.display()))?;
    } else if end < length {
        file.set_len(end)
            .context(|| format!("cutting a torn record off `{}`", path.display()))?;
    }
    Ok(())
}

/// Records whose minute is in `since..until` (unix seconds), from the
/// day files covering it.
pub fn read_range(app_dir: &Path, since: u64, until: u64) -> Result<Vec<Record>> {
    let dir = dir_of(app_dir);
    let mut records = Vec::new();
    if until <= since {
        return Ok(records);
    }
    for day in since / DAY..=(until - 1) / DAY {
        let (day_records, _) = read_file(&day_file(&dir, day * DAY))?;
        records.extend(
            day_records
                .into_iter()
                .filter(|record| (since..until).contains(&record.start())),
        );
    }
    Ok(records)
}

/// Deletes the days over `KEEP_DAYS` old and compacts the finished ones
/// not compacted yet. `compacted` remembers which, for this process.
pub fn tidy(
    app_dir: &Path,
    now: u64,
    compacted: &mut std::collections::HashSet<PathBuf>,
) -> Result<()> {
    let dir = dir_of(app_dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).context(|| format!("listing `{}`", dir.display())),
    };
    let today = now / DAY;
    for entry in entries.filter_map(|entry| entry.ok()) {
        let name = entry.file_name();
        let Some(day) = name.to_str().and_then(day_of_name) else {
            continue;
        };
        let path = entry.path();
        if day + KEEP_DAYS < today {
            fs::remove_file(&path).context(|| format!("removing `{}`", path.display()))?;
        } else if (day + 1) * DAY + COMPACT_AFTER <= now && !compacted.contains(&path) {
            compact(&path)?;
            compacted.insert(path);
        }
    }
    Ok(())
}

/// Merges a finished day's records to one per app minute and per dyno
/// minute, written over it atomically. Running it again changes nothing.
pub fn compact(path: &Path) -> Result<()> {
    let (records, end) = read_file(path)?;
    let mut apps: BTreeMap<u64, AppMinute> = BTreeMap::new();
    let mut dynos: BTreeMap<(u64, String), DynoMinute> = BTreeMap::new();
    let count = records.len();
    for record in records {
        match record {
            Record::App(minute) => apps
                .entry(minute.start)
                .or_insert_with(|| AppMinute {
                    start: minute.start,
                    ..AppMinute::default()
                })
                .merge(&minute),
            Record::Dyno(minute) => {
                dynos.insert((minute.start, minute.dyno.clone()), minute);
            }
        }
    }
    let merged: Vec<Record> = apps
        .into_values()
        .map(Record::App)
        .chain(dynos.into_values().map(Record::Dyno))
        .collect();
    let length = fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
    if merged.len() == count && end == length {
        return Ok(());
    }
    let mut bytes = MAGIC.to_vec();
    encode(&merged, &mut bytes);
    crate::state::write_atomic(path, &bytes, 0o640)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    // 2026-12-07T10:00:00Z
    const NOON_ISH: u64 = 1_796_637_600;

    fn minute(start: u64, requests: u64, took_ms: u64) -> Record {
        let mut counts = AppMinute {
            start,
            requests,
            status: [requests, 0, 0, 0],
            bytes_out: requests * 100,
            ..AppMinute::default()
        };
        for _ in 0..requests {
            counts.histogram.record(Duration::from_millis(took_ms));
        }
        Record::App(counts)
    }

    #[test]
    fn a_busy_minute_takes_about_a_hundred_bytes() {
        // 6,000 requests between 2 and 400 ms, two router errors.
        let mut counts = AppMinute {
            start: NOON_ISH,
            requests: 6000,
            status: [5900, 10, 80, 10],
            bytes_out: 6000 * 2500,
            ..AppMinute::default()
        };
        counts.router_errors.insert("H12".into(), 2);
        for n in 0..6000u64 {
            let took = if n % 50 == 0 { 400 } else { 2 + n % 20 };
            counts.histogram.record(Duration::from_millis(took));
        }
        let mut bytes = Vec::new();
        encode(&[Record::App(counts)], &mut bytes);
        // 110 bytes: a compacted day of such minutes is ~160 KB.
        assert!(bytes.len() <= 128, "{} bytes", bytes.len());
    }

    #[test]
    fn day_names_round_trip() {
        assert_eq!(day_name(NOON_ISH / DAY), "2026-12-07");
        assert_eq!(day_of_name("2026-12-07.bin"), Some(NOON_ISH / DAY));
        assert_eq!(day_of_name("2026-12-07.tmp"), None);
        assert_eq!(day_of_name("notes.bin"), None);
    }

    #[test]
    fn appended_records_read_back_and_span_days() {
        let app = tempfile::tempdir().unwrap();
        let mut checked = HashSet::new();
        let late = NOON_ISH / DAY * DAY + DAY - 60;
        let records = vec![minute(late, 2, 5), minute(late + 60, 3, 7)];
        append(app.path(), &records, &mut checked).unwrap();
        assert!(day_file(&dir_of(app.path()), late).exists());
        assert!(
            day_file(&dir_of(app.path()), late + 60).exists(),
            "next day"
        );
        assert_eq!(read_range(app.path(), late, late + 120).unwrap(), records);
        assert_eq!(
            read_range(app.path(), late + 60, late + 61).unwrap().len(),
            1
        );
    }

    #[test]
    fn a_torn_record_is_skipped_and_cut_before_the_next_append() {
        let app = tempfile::tempdir().unwrap();
        let mut checked = HashSet::new();
        append(app.path(), &[minute(NOON_ISH, 1, 5)], &mut checked).unwrap();
        let path = day_file(&dir_of(app.path()), NOON_ISH);
        // A crash half way through the next record.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2]).unwrap();
        assert_eq!(
            read_range(app.path(), NOON_ISH, NOON_ISH + 60)
                .unwrap()
                .len(),
            1
        );
        // A daemon started again appends after the last whole record.
        let mut checked = HashSet::new();
        append(app.path(), &[minute(NOON_ISH + 60, 1, 5)], &mut checked).unwrap();
        assert_eq!(
            read_range(app.path(), NOON_ISH, NOON_ISH + 120)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn days_past_the_week_are_deleted_and_finished_ones_compacted() {
        let app = tempfile::tempdir().unwrap();
        let mut checked = HashSet::new();
        let today = NOON_ISH / DAY * DAY;
        for days_ago in 0..=9 {
            let at = today - days_ago * DAY + 600;
            // Flushes every 10 s: several records for the same minute.
            let parts = [minute(at, 1, 5), minute(at, 2, 300), minute(at + 60, 1, 5)];
            append(app.path(), &parts, &mut checked).unwrap();
        }
        let dir = dir_of(app.path());
        let mut compacted = HashSet::new();
        tidy(app.path(), NOON_ISH, &mut compacted).unwrap();
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left.len(), 8, "today and the 7 days before: {left:?}");
        assert_eq!(left[0], day_name(today / DAY - 7) + ".bin");
        // Yesterday's three records are now one per minute, adding up.
        let yesterday = read_file(&day_file(&dir, today - DAY)).unwrap().0;
        assert_eq!(yesterday.len(), 2);
        let Record::App(first) = &yesterday[0] else {
            panic!("an app minute")
        };
        assert_eq!((first.requests, first.histogram.count()), (3, 3));
        // Today is still being written: left as it is.
        assert_eq!(read_file(&day_file(&dir, today)).unwrap().0.len(), 3);
        let before = fs::read(day_file(&dir, today - DAY)).unwrap();
        compact(&day_file(&dir, today - DAY)).unwrap();
        assert_eq!(fs::read(day_file(&dir, today - DAY)).unwrap(), before);
    }
}
