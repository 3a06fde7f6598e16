//! The window after traffic moves: a change's new dynos take the traffic as
//! soon as they are ready (web dynos listen, app.json checks pass), and the
//! previous web dynos stay running on standby for the uptime window
//! (`checks:set uptime`, 10 s by default). The router sends them requests
//! only when every new dyno refuses, so a new dyno that crashes costs no
//! request. At the end of the window the new dynos are kept and the old
//! ones drain and stop; if a new dyno crashed, the old ones take the
//! traffic back, a new release rolls back to the previous one (as
//! `releases:rollback` does, its description saying why), the formation
//! goes back, and the daemon's repair replaces the rest.
//!
//! The window is a file (`probation.toml`), so it outlives the push that
//! opened it: the daemon watches it, and its reconciler settles any it
//! finds due (after a daemon restart, say). Both settle under the app's
//! lock, as every change does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::control::drain_router;
use crate::converge::{routes_of, Mode, Platform};
use crate::crashes;
use crate::error::{Error, Result};
use crate::logs;
use crate::release::{Ledger, Release, ReleaseVersion};
use crate::routes::{Backend, Routes};
use crate::runtime::Dyno;
use crate::state::{self, AppDir};

/// An open window, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Probation {
    /// The release the new dynos run.
    pub release: u32,
    /// The release that ran before (the same one for a restart or a scale).
    pub previous: u32,
    /// The formation before the change, put back by a rollback.
    pub previous_formation: BTreeMap<String, u32>,
    /// The new dynos (container ids).
    pub new_dynos: Vec<String>,
    /// The previous web dynos, on standby (container ids).
    pub standby: Vec<String>,
    /// Unix seconds: when traffic moved, and when the window ends.
    pub started: i64,
    pub until: i64,
}

/// How a look at the window ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// No window is open.
    Closed,
    /// Open, and every new dyno runs.
    Pending,
    /// The window passed: the new dynos stay, the old ones stopped.
    Kept,
    /// A new dyno crashed: the previous dynos serve again, and a release
    /// says so (the reason).
    RolledBack(String),
}

fn path(app: &AppDir) -> PathBuf {
    app.path.join("probation.toml")
}

impl Probation {
    pub fn load(app: &AppDir) -> Option<Probation> {
        let text = std::fs::read_to_string(path(app)).ok()?;
        toml::from_str(&text).ok()
    }

    pub fn save(&self, app: &AppDir) -> Result<()> {
        state::write_toml(&path(app), self, 0o644)
    }

    /// A change that starts while a window is open takes its place: the
    /// dynos then on standby are retired with the rest.
    pub fn close(app: &AppDir) {
        let _ = std::fs::remove_file(path(app));
    }
}

/// Ends the app's window if it is due: a new dyno crashed, or the window
/// passed. The caller holds the app's lock.
pub fn settle(platform: &Platform, app: &AppDir) -> Result<Outcome> {
    let Some(window) = Probation::load(app) else {
        return Ok(Outcome::Closed);
    };
    let ledger = Ledger::new(app);
    let current = ledger.current()?;
    if window.release != window.previous
        && current.as_ref().map(|r| r.version) != Some(window.release)
    {
        // The ledger moved on (a rollback this window began and a daemon
        // restart cut short): nothing is left to decide.
        Probation::close(app);
        return Ok(Outcome::Closed);
    }
    let dynos = platform.runtime.list(Some(&app.name))?;
    let now = crashes::now();
    // A new dyno that exited; one removed by a command is not a crash
    // (commands that stop dynos end the window first, see `keep_now`).
    let crashed = dynos
        .iter()
        .find(|d| window.new_dynos.contains(&d.id) && !d.running);
    if let Some(dyno) = crashed {
        let after = (now - window.started).max(0);
        let reason = match window.release == window.previous {
            true => format!("{} crashed {after} s after it started", dyno.name()),
            false => format!(
                "{} crashed {after} s after release v{}",
                dyno.name(),
                window.release
            ),
        };
        logs::platform(
            app,
            &dyno.name(),
            &format!("Process exited with status {}", dyno.exit_code),
        );
        crate::webhooks::events::dyno_state_changed(app, &dyno.facts(), "up", "crashed");
        // Traffic first: every dyno but the new ones, the standby ones now
        // in rotation.
        let others: Vec<Dyno> = dynos
            .iter()
            .filter(|d| !window.new_dynos.contains(&d.id))
            .cloned()
            .collect();
        platform.publish_routes(app, &routes_of(&others))?;
        let release = match current {
            Some(current) if window.release != window.previous => {
                // As `releases:rollback` does: a new release running the
                // previous one's code and config, with the add-ons
                // attached now (a rotated password, a destroyed database
                // are never brought back).
                let previous = ledger.get(ReleaseVersion(window.previous))?;
                let (config, addons) = Release::rollback_config(&previous, &current);
                let rollback = Release {
                    version: ledger.next_version()?,
                    description: format!("Rollback to v{}: {reason}", previous.version),
                    user: "paas".into(),
                    created_at: crate::release::now_rfc3339(),
                    config,
                    addons,
                    failed: None,
                    ..previous
                };
                ledger.append(&rollback)?;
                crate::webhooks::events::release_created(app, &rollback);
                Some(rollback)
            }
            current => current,
        };
        let said = match window.release == window.previous {
            true => format!("{reason}; back on the dynos it replaced"),
            false => format!(
                "{reason}; back on v{} (as v{})",
                window.previous,
                release.as_ref().map_or(0, |r| r.version)
            ),
        };
        logs::platform(app, "api", &said);
        let formation = window.previous_formation.clone();
        app.update_settings(|s| s.formation = formation.clone())?;
        Probation::close(app);
        // The daemon's repair: the rollback's dynos start, and the new and
        // standby ones stop once they are up (a restart's standby dynos
        // are already the release that runs, and stay).
        if let Some(release) = &release {
            platform.converge(app, release, &formation, Mode::Repair, || Ok(()))?;
        }
        return Ok(Outcome::RolledBack(said));
    }
    if now < window.until {
        return Ok(Outcome::Pending);
    }
    keep_now(platform, app, &window)?;
    logs::platform(
        app,
        "api",
        &format!(
            "The new dynos stayed up {} s: stopping the ones they replaced",
            window.until - window.started
        ),
    );
    Ok(Outcome::Kept)
}

/// Ends an open window in favour of the new dynos: the standby ones drain
/// and stop. Commands that stop or scale dynos call it first, so the window
/// never takes their work for a crash. The caller holds the app's lock.
pub fn keep(platform: &Platform, app: &AppDir) -> Result<()> {
    match Probation::load(app) {
        Some(window) => keep_now(platform, app, &window),
        None => Ok(()),
    }
}

fn keep_now(platform: &Platform, app: &AppDir, window: &Probation) -> Result<()> {
    let dynos = platform.runtime.list(Some(&app.name))?;
    let (standby, serving): (Vec<Dyno>, Vec<Dyno>) = dynos
        .into_iter()
        .partition(|d| window.standby.contains(&d.id));
    platform.publish_routes(app, &routes_of(&serving))?;
    let draining: Vec<String> = routes_of(&standby)
        .backends
        .into_iter()
        .map(|b| b.container)
        .collect();
    if !draining.is_empty() {
        let _ = drain_router(platform.root, &draining);
    }
    // Closed once they are gone: meanwhile `ps` knows the exited ones for
    // standby dynos being stopped, not crashed ones.
    let stopped = platform.stop(app, &standby);
    Probation::close(app);
    stopped
}

/// Splits `retired` into the previous web dynos that `started` replace,
/// kept warm for the window, and the rest (a scale down's, the other
/// types', those of older releases), retired at once.
pub fn split_standby(
    retired: Vec<Dyno>,
    started: &[Dyno],
    previous: u32,
) -> (Vec<Dyno>, Vec<Dyno>) {
    retired.into_iter().partition(|d| {
        d.process_type == "web"
            && d.running
            && d.release == previous
            && started
                .iter()
                .any(|new| new.process_type == d.process_type && new.index == d.index)
    })
}

/// The routes of a change: its serving dynos, then the standby ones.
pub fn routes_with_standby(serving: &[Dyno], standby: &[Dyno]) -> Routes {
    let mut routes = routes_of(serving);
    routes.backends.extend(
        routes_of(standby)
            .backends
            .into_iter()
            .map(|b| Backend { standby: true, ..b }),
    );
    routes
}

/// After a window opened: the daemon watches it (without one, its
/// reconciler settles the window when it starts), or, with `wait`
/// (`checks:set wait on`), the change does.
pub fn watch(platform: &Platform, app: &AppDir, wait: bool) -> Result<()> {
    let _ = crate::control::watch_window(platform.root, app);
    if wait {
        wait_out(platform, app)
    } else {
        Ok(())
    }
}

/// A change made while the last one's window is open, after a new dyno
/// of it crashed (the daemon not there yet): the rollback comes first, and
/// this change, made from what is now rolled back, is refused. The caller
/// holds the app's lock; `existing` are the app's dynos.
pub fn before_change(platform: &Platform, app: &AppDir, existing: &[Dyno]) -> Result<()> {
    let Some(window) = Probation::load(app) else {
        return Ok(());
    };
    let crashed = existing
        .iter()
        .any(|d| window.new_dynos.contains(&d.id) && !d.running);
    if !crashed {
        return Ok(());
    }
    if let Outcome::RolledBack(why) = settle(platform, app)? {
        return Err(
            Error::new(format!("the last change was just rolled back: {why}")).hint(
                "`paas releases` shows it; run the command again to make this change on top of it",
            ),
        );
    }
    Ok(())
}

/// `checks:set wait on`: the change ends with its window, and fails if a
/// new dyno crashed in it. The caller holds the app's lock, so the daemon
/// leaves the window to this.
fn wait_out(platform: &Platform, app: &AppDir) -> Result<()> {
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        match settle(platform, app)? {
            Outcome::Pending => {}
            Outcome::Closed | Outcome::Kept => return Ok(()),
            Outcome::RolledBack(why) => {
                return Err(Error::new(why).hint(format!(
                    "the previous release serves again; `paas logs -a {}` shows why the dyno ended",
                    app.name
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let app =
            crate::state::Root::new(dir.path()).app(&crate::state::AppName::parse("demo").unwrap());
        std::fs::create_dir_all(&app.path).unwrap();
        assert_eq!(Probation::load(&app), None);
        let window = Probation {
            release: 7,
            previous: 6,
            previous_formation: BTreeMap::from([("web".to_string(), 1)]),
            new_dynos: vec!["new".into()],
            standby: vec!["old".into()],
            started: 100,
            until: 110,
        };
        window.save(&app).unwrap();
        assert_eq!(Probation::load(&app), Some(window));
        Probation::close(&app);
        assert_eq!(Probation::load(&app), None);
    }
}
