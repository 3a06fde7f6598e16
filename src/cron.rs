//! Scheduled jobs (#22 point 2): `app.json`'s `cron` entries, in Dokku's
//! format (`{"cron": [{"command": "python job.py", "schedule": "*/10 * * * *"}]}`),
//! each run a one-off dyno of the current release named `scheduler.N` (N:
//! the entry's place in the list), so its output is `app[scheduler.N]` in
//! the log stream. The daemon's tick (`tick`) starts what is due this
//! minute and records how the runs before ended:
//!
//! - a run still going when its next is due is not started again (its
//!   dyno is there);
//! - minutes the daemon missed (it was down, or late) are not replayed:
//!   only the minute of the tick counts;
//! - times are UTC unless the app's `TZ` config var names a zone.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::converge::Platform;
use crate::error::{Error, Result};
use crate::logs;
use crate::release::{Ledger, Release};
use crate::runtime::{Code, Dyno, DynoSpec};
use crate::state::{self, AppDir};

/// The process type of scheduled runs' dynos: never part of the formation.
pub const SCHEDULER_TYPE: &str = "scheduler";

/// One `cron` entry of `app.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entry {
    pub command: String,
    pub schedule: String,
}

#[derive(Deserialize)]
struct AppJson {
    #[serde(default)]
    cron: Vec<Entry>,
}

impl Entry {
    /// A short id that stays while the entry does (`cron:run ID`).
    pub fn id(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}", self.schedule, self.command));
        digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
    }

    fn parsed(&self) -> Result<croner::Cron> {
        croner::Cron::new(&self.schedule).parse().map_err(|err| {
            Error::new(format!("schedule `{}` is not valid: {err}", self.schedule))
                .hint("use five fields, as cron does: `*/10 * * * *` is every 10 minutes")
        })
    }
}

/// The entries of a release's app.json (none without one).
pub fn entries(app_json: Option<&str>) -> Result<Vec<Entry>> {
    let Some(text) = app_json else {
        return Ok(Vec::new());
    };
    let parsed: AppJson = serde_json::from_str(text)
        .map_err(|err| Error::new(format!("app.json is not valid: {err}")))?;
    for (index, entry) in parsed.cron.iter().enumerate() {
        entry.parsed().map_err(|err| {
            Error::new(format!("app.json: cron[{index}] {}", err.message()))
                .hint("use five fields, as cron does: `*/10 * * * *` is every 10 minutes; fix app.json and push again")
        })?;
    }
    Ok(parsed.cron)
}

/// Refuses a build whose app.json (in `build_dir`) has a `cron` entry
/// that is not valid: the push fails naming it, instead of the daemon
/// skipping the job, silently, once the release runs.
pub fn check_app_json(build_dir: &std::path::Path) -> Result<()> {
    let text = state::read_untrusted(&build_dir.join("app.json"), crate::converge::APP_JSON_LIMIT)?;
    entries(text.as_deref()).map(drop)
}

/// The app's zone: its `TZ` config var if it names one, else UTC.
pub fn zone(release: &Release) -> chrono_tz::Tz {
    release
        .config
        .get("TZ")
        .and_then(|tz| chrono_tz::Tz::from_str(tz).ok())
        .unwrap_or(chrono_tz::UTC)
}

/// When `entry` runs next after `after` (unix seconds), in the app's zone.
pub fn next_run(
    entry: &Entry,
    zone: chrono_tz::Tz,
    after: i64,
) -> Option<chrono::DateTime<chrono_tz::Tz>> {
    let cron = entry.parsed().ok()?;
    let after = chrono::DateTime::from_timestamp(after, 0)?.with_timezone(&zone);
    cron.find_next_occurrence(&after, false).ok()
}

/// Whether `entry` is due in the minute holding `now` (unix seconds).
fn due(entry: &Entry, zone: chrono_tz::Tz, now: i64) -> bool {
    let minute = now - now.rem_euclid(60);
    let Some(at) = chrono::DateTime::from_timestamp(minute, 0) else {
        return false;
    };
    entry
        .parsed()
        .and_then(|cron| {
            cron.is_time_matching(&at.with_timezone(&zone))
                .map_err(|err| Error::new(err.to_string()))
        })
        .unwrap_or(false)
}

/// How an entry's last run went (`cron.toml`, by entry id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Unix seconds.
    pub started_at: i64,
    pub dyno: String,
    /// The container, while it runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Runs {
    #[serde(default)]
    pub last: BTreeMap<String, Run>,
}

impl Runs {
    fn path(app: &AppDir) -> std::path::PathBuf {
        app.path.join("cron.toml")
    }

    pub fn load(app: &AppDir) -> Runs {
        state::read_toml(&Self::path(app)).unwrap_or_default()
    }

    pub fn save(&self, app: &AppDir) -> Result<()> {
        state::write_toml(&Self::path(app), self, 0o644)
    }
}

/// One pass for one app, under its lock (the daemon's tick, each few
/// seconds): records how ended runs went and removes their dynos, then
/// starts the entries due this minute that are not running.
pub fn tick(platform: &Platform, app: &AppDir, now: i64) -> Result<()> {
    let Some(release) = Ledger::new(app).current()?.filter(|r| r.is_built()) else {
        return Ok(());
    };
    let mut runs = Runs::load(app);
    let before = runs.last.clone();
    let this_minute = now - now.rem_euclid(60);
    let zone = zone(&release);
    let entries = entries(platform.app_json(app, &release)?.as_deref())?;
    // Once a minute, whatever the daemon's restarts: by its last start.
    let due_now: Vec<(usize, &Entry)> = entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| {
            let started = runs.last.get(&entry.id()).map_or(0, |run| run.started_at);
            due(entry, zone, now) && started < this_minute
        })
        .collect();
    // Podman is asked only when something is due or a run is out: the
    // tick comes every few seconds for every app.
    if due_now.is_empty() && runs.last.values().all(|run| run.container.is_empty()) {
        return Ok(());
    }
    let dynos: Vec<Dyno> = platform
        .runtime
        .list(Some(&app.name))?
        .into_iter()
        .filter(|d| d.process_type == SCHEDULER_TYPE)
        .collect();
    settle(platform, app, &mut runs, &dynos);
    for (index, entry) in due_now {
        let dyno = format!("{SCHEDULER_TYPE}.{}", index + 1);
        if !dynos.iter().any(|d| d.running && d.name() == dyno) {
            let Some(code) = platform.code(app, &release)? else {
                break;
            };
            let run = start(platform, app, &release, &code, index, entry)?;
            runs.last.insert(entry.id(), run);
        }
    }
    if runs.last != before {
        runs.save(app)?;
    }
    Ok(())
}

/// Records the exit of runs whose dyno ended, and removes it.
fn settle(platform: &Platform, app: &AppDir, runs: &mut Runs, dynos: &[Dyno]) {
    for run in runs.last.values_mut().filter(|r| !r.container.is_empty()) {
        match dynos.iter().find(|d| d.id == run.container) {
            Some(dyno) if dyno.running => {}
            Some(dyno) => {
                run.exit_status = Some(dyno.exit_code);
                logs::platform(
                    app,
                    &dyno.name(),
                    &format!("Process exited with status {}", dyno.exit_code),
                );
                let _ = platform
                    .runtime
                    .remove(std::slice::from_ref(dyno), std::time::Duration::ZERO);
                run.container.clear();
            }
            // Gone without a word (removed by hand): its end is unknown.
            None => run.container.clear(),
        }
    }
}

/// Starts entry `index` now, as `scheduler.N` of the current release.
pub fn start(
    platform: &Platform,
    app: &AppDir,
    release: &Release,
    code: &Code,
    index: usize,
    entry: &Entry,
) -> Result<Run> {
    let spec = platform.spec(
        app,
        release,
        SCHEDULER_TYPE,
        index as u32 + 1,
        &entry.command,
        code,
    )?;
    logs::platform(
        app,
        &spec.dyno_name(),
        &format!(
            "Starting process with command `{}` (cron `{}`)",
            entry.command, entry.schedule
        ),
    );
    let dyno = platform.runtime.start(&DynoSpec {
        remove_on_exit: false,
        ..spec
    })?;
    // Heroku sends `dyno` events for one-off dynos, which its Scheduler's are.
    crate::webhooks::events::dyno_started(app, &dyno.facts(), &entry.command);
    Ok(Run {
        started_at: crate::crashes::now(),
        dyno: dyno.name(),
        container: dyno.id,
        exit_status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(schedule: &str) -> Entry {
        Entry {
            command: "python job.py".into(),
            schedule: schedule.into(),
        }
    }

    #[test]
    fn entries_are_due_in_their_minute_in_the_apps_zone() {
        // 2026-12-07 04:10:30 UTC.
        let now = 1796616630;
        assert!(due(&entry("*/10 * * * *"), chrono_tz::UTC, now));
        assert!(!due(&entry("*/10 * * * *"), chrono_tz::UTC, now + 60));
        assert!(due(&entry("10 4 * * *"), chrono_tz::UTC, now));
        // 04:10 UTC is 05:10 in Paris in December.
        let paris = chrono_tz::Tz::from_str("Europe/Paris").unwrap();
        assert!(due(&entry("10 5 * * *"), paris, now));
        assert!(!due(&entry("10 4 * * *"), paris, now));
        let next = next_run(&entry("0 * * * *"), chrono_tz::UTC, now).unwrap();
        assert_eq!(next.timestamp(), now - 630 + 3600);
    }

    #[test]
    fn app_json_cron_entries_are_read_and_checked() {
        assert_eq!(entries(None).unwrap(), []);
        let found = entries(Some(
            r#"{"cron": [{"command": "echo hi", "schedule": "* * * * *"}], "healthchecks": {}}"#,
        ))
        .unwrap();
        assert_eq!(
            found,
            [Entry {
                command: "echo hi".into(),
                schedule: "* * * * *".into()
            }]
        );
        assert_eq!(found[0].id().len(), 8);
        let err = entries(Some(
            r#"{"cron": [{"command": "x", "schedule": "every minute"}]}"#,
        ))
        .unwrap_err();
        assert!(
            err.message()
                .starts_with("app.json: cron[0] schedule `every minute` is not valid"),
            "{}",
            err.message()
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(check_app_json(dir.path()).is_ok(), "no app.json");
        std::fs::write(
            dir.path().join("app.json"),
            r#"{"cron": [{"command": "a", "schedule": "* * * * *"},
                        {"command": "b", "schedule": "61 * * * *"}]}"#,
        )
        .unwrap();
        let err = check_app_json(dir.path()).unwrap_err();
        assert!(
            err.message()
                .starts_with("app.json: cron[1] schedule `61 * * * *`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn a_release_names_its_zone_with_tz() {
        let mut release: Release = toml::from_str(
            "version = 1\ndescription = \"x\"\nuser = \"u\"\ncreated_at = \"2026-12-07T00:00:00Z\"\n",
        )
        .unwrap();
        assert_eq!(zone(&release), chrono_tz::UTC);
        release
            .config
            .insert("TZ".into(), "America/New_York".into());
        assert_eq!(zone(&release).name(), "America/New_York");
        release.config.insert("TZ".into(), "Mars/Olympus".into());
        assert_eq!(zone(&release), chrono_tz::UTC);
    }
}
