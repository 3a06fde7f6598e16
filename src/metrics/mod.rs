//! Metrics per app and minute, kept 7 days (#23): what the router's
//! requests did (counts, status classes, router error codes, response
//! time percentiles, bytes) and what each dyno used (memory, CPU).
//!
//! The daemon counts requests in memory (`collect`), appends them to the
//! app's day files (`series`) every few seconds, and samples its dynos'
//! usage once a minute; `read` is the one way back, for `paas metrics` and
//! the dashboard. Percentiles come from histograms (`histogram`) merged
//! over a chart's bucket, never from a sample of requests or an average.

pub mod collect;
pub mod histogram;
pub mod series;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::state::{AppName, Root};
use series::{AppMinute, Record};

/// What an app's requests did in one bucket of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppPoint {
    /// The bucket's start, unix seconds.
    pub start: u64,
    pub requests: u64,
    /// 2xx, 3xx, 4xx, 5xx.
    pub status: [u64; 4],
    /// Router error codes (`H12`) and how often.
    pub router_errors: BTreeMap<String, u64>,
    /// None when there were no requests.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub bytes_out: u64,
}

/// What one dyno used in one bucket: its highest memory, its mean CPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DynoPoint {
    pub start: u64,
    /// `web.1`.
    pub dyno: String,
    pub rss_bytes: u64,
    /// The memory limit enforced on the dyno, if any.
    pub quota_bytes: Option<u64>,
    /// Of one CPU (200 is two CPUs' worth).
    pub cpu_percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppSeries {
    pub app: String,
    pub step_secs: u64,
    /// The first bucket's start (`since` rounded down to the step).
    pub since: u64,
    pub until: u64,
    /// One for each bucket, empty ones included, oldest first.
    pub points: Vec<AppPoint>,
    /// For each bucket and dyno that reported, by start then dyno.
    pub dynos: Vec<DynoPoint>,
}

/// How far back metrics go.
pub const KEPT_SECS: u64 = series::KEEP_DAYS * series::DAY;
/// Buckets one read may ask for: a week of minutes.
const MAX_POINTS: u64 = KEPT_SECS / 60 + 1;

/// Buckets of `step_secs` (a multiple of 60) from `since` to `until`; a bucket's
/// percentiles come from the merged histograms of its minutes, not averages.
pub fn read(
    root: &Root,
    app: &AppName,
    since: u64,
    until: u64,
    step_secs: u64,
) -> Result<AppSeries> {
    if step_secs == 0 || !step_secs.is_multiple_of(60) {
        return Err(Error::new(format!(
            "a metrics step of {step_secs} seconds is not a whole number of minutes"
        ))
        .hint("metrics are kept per minute: ask for a step of 60 seconds or a multiple"));
    }
    if until < since {
        return Err(Error::new("the metrics' end is before their start")
            .hint("give a `since` earlier than `until`"));
    }
    let first = since - since % step_secs;
    let buckets = (until - first) / step_secs + 1;
    if buckets > MAX_POINTS {
        return Err(Error::new(format!(
            "{buckets} points of {step_secs} s are more than one read gives ({MAX_POINTS})"
        ))
        .hint("ask for a shorter time or a larger step"));
    }
    let app_dir = root.app(app).require()?;
    let end = first + buckets * step_secs;
    let records = series::read_range(&app_dir.path, first, end)?;

    let mut minutes: Vec<AppMinute> = (0..buckets)
        .map(|index| AppMinute {
            start: first + index * step_secs,
            ..AppMinute::default()
        })
        .collect();
    let mut dynos: BTreeMap<(u64, String), DynoBucket> = BTreeMap::new();
    for record in records {
        let index = ((record.start() - first) / step_secs) as usize;
        match record {
            Record::App(minute) => minutes[index].merge(&minute),
            Record::Dyno(minute) => {
                let bucket = dynos
                    .entry((minutes[index].start, minute.dyno))
                    .or_default();
                bucket.rss_bytes = bucket.rss_bytes.max(minute.rss_bytes);
                bucket.quota_bytes = minute.quota_bytes.or(bucket.quota_bytes);
                bucket.cpu_sum += minute.cpu_percent;
                bucket.samples += 1;
            }
        }
    }
    Ok(AppSeries {
        app: app.to_string(),
        step_secs,
        since: first,
        until,
        points: minutes.iter().map(point_of).collect(),
        dynos: dynos
            .into_iter()
            .map(|((start, dyno), bucket)| DynoPoint {
                start,
                dyno,
                rss_bytes: bucket.rss_bytes,
                quota_bytes: bucket.quota_bytes,
                cpu_percent: bucket.cpu_sum / f64::from(bucket.samples.max(1)),
            })
            .collect(),
    })
}

/// A dyno's minutes in one bucket: the highest memory, the latest quota,
/// CPU summed for the mean.
#[derive(Default)]
struct DynoBucket {
    rss_bytes: u64,
    quota_bytes: Option<u64>,
    cpu_sum: f64,
    samples: u32,
}

fn point_of(minute: &AppMinute) -> AppPoint {
    AppPoint {
        start: minute.start,
        requests: minute.requests,
        status: minute.status,
        router_errors: minute.router_errors.clone(),
        p50_ms: minute.histogram.percentile_ms(0.50),
        p95_ms: minute.histogram.percentile_ms(0.95),
        p99_ms: minute.histogram.percentile_ms(0.99),
        bytes_out: minute.bytes_out,
    }
}

#[cfg(test)]
mod tests {
    use super::series::DynoMinute;
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    const HOUR: u64 = 1_796_637_600;

    fn app_root() -> (tempfile::TempDir, Root, AppName) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let name = AppName::parse("shop").unwrap();
        std::fs::create_dir_all(root.app(&name).path).unwrap();
        std::fs::write(root.app(&name).settings_file(), "").unwrap();
        (dir, root, name)
    }

    fn requests(start: u64, took_ms: &[u64], status_class: usize) -> Record {
        let mut minute = AppMinute {
            start,
            requests: took_ms.len() as u64,
            ..AppMinute::default()
        };
        minute.status[status_class] = took_ms.len() as u64;
        for took in took_ms {
            minute.histogram.record(Duration::from_millis(*took));
        }
        Record::App(minute)
    }

    fn dyno(start: u64, rss: u64, cpu: f64) -> Record {
        Record::Dyno(DynoMinute {
            start,
            dyno: "web.1".into(),
            rss_bytes: rss,
            quota_bytes: Some(512 << 20),
            cpu_percent: cpu,
        })
    }

    #[test]
    fn buckets_merge_their_minutes_histograms() {
        let (_dir, root, name) = app_root();
        let app = root.app(&name);
        let mut fast = vec![5; 98];
        fast.push(320);
        let records = [
            requests(HOUR, &fast, 0),
            requests(HOUR + 60, &[4, 400], 2),
            // A second flush of the first minute.
            requests(HOUR + 5, &[6], 0),
            dyno(HOUR, 100 << 20, 10.0),
            dyno(HOUR + 60, 120 << 20, 30.0),
        ];
        // A real flush keys records by their minute's start.
        let records: Vec<Record> = records
            .into_iter()
            .map(|mut record| {
                if let Record::App(minute) = &mut record {
                    minute.start -= minute.start % 60;
                }
                record
            })
            .collect();
        series::append(&app.path, &records, &mut HashSet::new()).unwrap();

        let minutely = read(&root, &name, HOUR, HOUR + 119, 60).unwrap();
        assert_eq!(minutely.points.len(), 2);
        assert_eq!(minutely.points[0].requests, 100);
        assert_eq!(minutely.points[1].status, [0, 0, 2, 0]);

        let hourly = read(&root, &name, HOUR + 30, HOUR + 90, 3600).unwrap();
        assert_eq!((hourly.since, hourly.points.len()), (HOUR, 1));
        let point = &hourly.points[0];
        assert_eq!((point.requests, point.status), (102, [100, 0, 2, 0]));
        let p50 = point.p50_ms.unwrap();
        let p99 = point.p99_ms.unwrap();
        assert!((p50 - 5.0).abs() < 0.2, "p50 {p50}");
        assert!(p99 >= 300.0, "p99 of the merged minutes: {p99}");
        assert_eq!(hourly.dynos.len(), 1);
        assert_eq!(hourly.dynos[0].rss_bytes, 120 << 20, "the highest");
        assert_eq!(hourly.dynos[0].cpu_percent, 20.0, "the mean");
    }

    #[test]
    fn empty_buckets_are_points_without_percentiles() {
        let (_dir, root, name) = app_root();
        let series = read(&root, &name, HOUR, HOUR + 600, 60).unwrap();
        assert_eq!(series.points.len(), 11);
        assert!(series
            .points
            .iter()
            .all(|p| p.requests == 0 && p.p50_ms.is_none()));
        assert!(series.dynos.is_empty());
    }

    #[test]
    fn data_written_by_one_daemon_is_read_after_a_restart() {
        let (_dir, root, name) = app_root();
        let app = root.app(&name);
        series::append(&app.path, &[requests(HOUR, &[5], 0)], &mut HashSet::new()).unwrap();
        // A new daemon process: nothing in memory, a fresh `checked` set.
        series::append(&app.path, &[requests(HOUR, &[7], 3)], &mut HashSet::new()).unwrap();
        let series = read(&root, &name, HOUR, HOUR, 60).unwrap();
        assert_eq!(series.points[0].requests, 2);
        assert_eq!(series.points[0].status, [1, 0, 0, 1]);
    }

    #[test]
    fn bad_reads_say_what_to_ask_instead() {
        let (_dir, root, name) = app_root();
        let err = read(&root, &name, HOUR, HOUR + 60, 90).unwrap_err();
        assert!(
            err.report().contains("not a whole number of minutes"),
            "{}",
            err.report()
        );
        let err = read(&root, &name, HOUR, HOUR - 60, 60).unwrap_err();
        assert!(err.report().contains("before their start"));
        let err = read(&root, &name, HOUR - 30 * 86_400, HOUR, 60).unwrap_err();
        assert!(err.report().contains("a larger step"), "{}", err.report());
        let other = AppName::parse("nope").unwrap();
        assert!(read(&root, &other, HOUR, HOUR, 60).is_err());
    }
}
