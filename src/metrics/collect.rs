//! Counting in the daemon: each router thread counts its requests into a
//! shard of its own (a mutex only the flush ever contends for, every few
//! seconds), and the daemon's periodic loop takes every shard's counts and
//! appends them to the apps' day files (`flush`). Dynos' usage is sampled
//! by the runtime once a minute and turned into CPU percentages here
//! (`DynoSampler`), from the CPU time each dyno used since the last sample.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::series::{self, AppMinute, DynoMinute, Record};
use crate::state::{AppName, Root};

/// One thread's counts: minute start -> app -> counts.
type Shard = Mutex<HashMap<u64, HashMap<String, AppMinute>>>;

/// Every thread's shard, for the flush.
static SHARDS: Mutex<Vec<Arc<Shard>>> = Mutex::new(Vec::new());

thread_local! {
    static SHARD: Arc<Shard> = {
        let shard: Arc<Shard> = Arc::default();
        SHARDS.lock().expect("not poisoned").push(shard.clone());
        shard
    };
}

/// What the router saw of one request.
pub struct Request<'a> {
    pub app: &'a str,
    /// When it ended, unix seconds.
    pub at: u64,
    pub status: u16,
    pub bytes_out: u64,
    pub service: Duration,
    /// The router's error code (`H12`), if it failed there.
    pub router_error: Option<&'a str>,
}

/// Counts a request in this thread's shard: a hash lookup and some adds,
/// no allocation once the app's minute is there.
pub fn count(request: &Request) {
    SHARD.with(|shard| {
        let mut minutes = shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let start = request.at - request.at % 60;
        let apps = minutes.entry(start).or_default();
        let counts = match apps.get_mut(request.app) {
            Some(counts) => counts,
            None => apps
                .entry(request.app.to_string())
                .or_insert_with(|| AppMinute {
                    start,
                    ..AppMinute::default()
                }),
        };
        counts.requests += 1;
        let class = match request.status {
            0..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        counts.status[class] += 1;
        counts.bytes_out += request.bytes_out;
        counts.histogram.record(request.service);
        if let Some(code) = request.router_error {
            match counts.router_errors.get_mut(code) {
                Some(count) => *count += 1,
                None => {
                    counts.router_errors.insert(code.to_string(), 1);
                }
            }
        }
    });
}

/// Takes what every thread counted since the last take, merged: app ->
/// minute start -> counts.
fn take_all() -> HashMap<String, BTreeMap<u64, AppMinute>> {
    let shards: Vec<Arc<Shard>> = SHARDS.lock().expect("not poisoned").clone();
    let mut merged: HashMap<String, BTreeMap<u64, AppMinute>> = HashMap::new();
    for shard in shards {
        let minutes = std::mem::take(&mut *shard.lock().unwrap_or_else(|p| p.into_inner()));
        for (start, apps) in minutes {
            for (app, counts) in apps {
                let minutes = merged.entry(app).or_default();
                match minutes.get_mut(&start) {
                    Some(mine) => mine.merge(&counts),
                    None => {
                        minutes.insert(start, counts);
                    }
                }
            }
        }
    }
    merged
}

/// How often each app's old days are looked for.
const TIDY_EVERY: u64 = 3600;

/// What the daemon's flushes remember between runs.
#[derive(Default)]
pub struct Flusher {
    /// Day files cut back to their last whole record by this process.
    checked: HashSet<PathBuf>,
    /// Finished days compacted by this process.
    compacted: HashSet<PathBuf>,
    /// When each app's days were last tidied.
    tidied: HashMap<String, u64>,
}

impl Flusher {
    /// Appends what the router counted, and the dynos' minute (`dynos`:
    /// app -> their usage), to the apps' files; deletes days over a week
    /// old. An app that is gone (destroyed, renamed meanwhile) is skipped:
    /// its counts are dropped, never written under a name it left.
    /// Returns what failed, per app, for the daemon's log.
    pub fn flush(
        &mut self,
        root: &Root,
        now: u64,
        dynos: HashMap<String, Vec<DynoMinute>>,
    ) -> Vec<(String, crate::error::Error)> {
        let mut records: HashMap<String, Vec<Record>> = HashMap::new();
        for (app, minutes) in take_all() {
            records
                .entry(app)
                .or_default()
                .extend(minutes.into_values().map(Record::App));
        }
        for (app, dynos) in dynos {
            records
                .entry(app)
                .or_default()
                .extend(dynos.into_iter().map(Record::Dyno));
        }
        let mut failed = Vec::new();
        for (app, records) in records {
            let Ok(name) = AppName::parse(&app) else {
                continue;
            };
            let dir = root.app(&name);
            if !dir.exists() {
                continue;
            }
            if let Err(err) = series::append(&dir.path, &records, &mut self.checked) {
                failed.push((app.clone(), err));
            }
        }
        let apps = root.apps().unwrap_or_default();
        self.tidied
            .retain(|app, _| apps.iter().any(|name| name.as_str() == app));
        let mut tidied_any = false;
        for name in apps {
            let last = self.tidied.entry(name.to_string()).or_insert(0);
            if *last + TIDY_EVERY <= now {
                *last = now;
                tidied_any = true;
                if let Err(err) = series::tidy(&root.app(&name).path, now, &mut self.compacted) {
                    failed.push((name.to_string(), err));
                }
            }
        }
        if tidied_any {
            // What this process remembers of files that are gone (days
            // deleted, apps renamed or destroyed) goes with them.
            self.checked.retain(|path| path.exists());
            self.compacted.retain(|path| path.exists());
        }
        failed
    }
}

/// A dyno's usage as the runtime reads it from its cgroup.
#[derive(Debug, Clone, PartialEq)]
pub struct DynoUsage {
    pub app: String,
    /// `web.1`.
    pub dyno: String,
    /// The container, so a dyno restarted under the same name starts its
    /// CPU count again.
    pub container: String,
    pub rss_bytes: u64,
    pub quota_bytes: Option<u64>,
    /// CPU time used since the dyno started.
    pub cpu_micros: u64,
}

/// Turns samples of CPU time into a percentage of one CPU since the last
/// sample of the same container.
#[derive(Default)]
pub struct DynoSampler {
    last: HashMap<String, (u64, std::time::Instant)>,
}

impl DynoSampler {
    /// The minute records of `samples` taken at `now` (unix seconds), by
    /// app. A dyno seen for the first time reports no CPU yet (0).
    pub fn minute(
        &mut self,
        now: u64,
        samples: Vec<DynoUsage>,
    ) -> HashMap<String, Vec<DynoMinute>> {
        self.minute_at(now, std::time::Instant::now(), samples)
    }

    fn minute_at(
        &mut self,
        now: u64,
        instant: std::time::Instant,
        samples: Vec<DynoUsage>,
    ) -> HashMap<String, Vec<DynoMinute>> {
        let mut last = HashMap::new();
        let mut by_app: HashMap<String, Vec<DynoMinute>> = HashMap::new();
        for sample in samples {
            let cpu_percent = match self.last.get(&sample.container) {
                Some((micros, then)) if sample.cpu_micros >= *micros => {
                    let wall = instant.duration_since(*then).as_micros() as f64;
                    if wall > 0.0 {
                        (sample.cpu_micros - micros) as f64 / wall * 100.0
                    } else {
                        0.0
                    }
                }
                _ => 0.0,
            };
            last.insert(sample.container.clone(), (sample.cpu_micros, instant));
            by_app.entry(sample.app).or_default().push(DynoMinute {
                start: now - now % 60,
                dyno: sample.dyno,
                rss_bytes: sample.rss_bytes,
                quota_bytes: sample.quota_bytes,
                cpu_percent,
            });
        }
        // Dynos gone since are forgotten.
        self.last = last;
        by_app
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 1_796_637_600;

    #[test]
    fn counts_from_threads_are_flushed_to_the_apps_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let name = AppName::parse("collected").unwrap();
        std::fs::create_dir_all(root.app(&name).path).unwrap();
        std::fs::write(root.app(&name).settings_file(), "").unwrap();
        let threads: Vec<_> = (0..3)
            .map(|index| {
                std::thread::spawn(move || {
                    for n in 0..10 {
                        count(&Request {
                            app: "collected",
                            at: HOUR + n,
                            status: if index == 0 { 404 } else { 200 },
                            bytes_out: 10,
                            service: Duration::from_millis(5),
                            router_error: (n == 0).then_some("H13"),
                        });
                    }
                    // An app with no directory is not written anywhere.
                    count(&Request {
                        app: "ghost-app",
                        at: HOUR,
                        status: 200,
                        bytes_out: 1,
                        service: Duration::ZERO,
                        router_error: None,
                    });
                })
            })
            .collect();
        threads
            .into_iter()
            .for_each(|thread| thread.join().unwrap());
        let failed = Flusher::default().flush(&root, HOUR + 30, HashMap::new());
        assert!(failed.is_empty());
        let series = super::super::read(&root, &name, HOUR, HOUR, 60).unwrap();
        let point = &series.points[0];
        assert_eq!(point.requests, 30);
        assert_eq!(point.status, [20, 0, 10, 0]);
        assert_eq!(point.router_errors.get("H13"), Some(&3));
        assert_eq!(point.bytes_out, 300);
        assert!(!root.apps_dir().join("ghost-app").exists());
    }

    /// What counting adds to a request, for the report: run with
    /// `cargo test --release --lib counting_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn counting_cost() {
        let rounds = 5_000_000u64;
        let started = std::time::Instant::now();
        for n in 0..rounds {
            count(&Request {
                app: "benchmarked",
                at: HOUR + n / 100_000,
                status: 200,
                bytes_out: 100,
                service: Duration::from_micros(n % 5000),
                router_error: None,
            });
        }
        let each = started.elapsed().as_nanos() as f64 / rounds as f64;
        eprintln!("{each:.1} ns a request counted");
        drop(take_all());
    }

    #[test]
    fn cpu_is_the_share_of_wall_time_since_the_last_sample() {
        let mut sampler = DynoSampler::default();
        let usage = |cpu_micros| DynoUsage {
            app: "shop".into(),
            dyno: "web.1".into(),
            container: "abc".into(),
            rss_bytes: 1,
            quota_bytes: None,
            cpu_micros,
        };
        let start = std::time::Instant::now();
        let first = sampler.minute_at(HOUR, start, vec![usage(1_000_000)]);
        assert_eq!(first["shop"][0].cpu_percent, 0.0, "nothing to compare yet");
        let next = sampler.minute_at(
            HOUR + 60,
            start + Duration::from_secs(60),
            vec![usage(31_000_000)],
        );
        assert_eq!(next["shop"][0].cpu_percent, 50.0);
        assert_eq!(next["shop"][0].start, HOUR + 60);
    }
}
