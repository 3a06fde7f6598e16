//! The window after traffic moves: a change's new dynos take the traffic as
//! soon as they are ready (web dynos listen, app.json checks pass), and the
//! previous web dynos stay running on standby for the uptime window
//! (`checks:set uptime`, 10 s by default). The router sends them requests
//! only when every new dyno refuses, so a new dyno that crashes costs no
//! request. At the end of the window the new dynos are kept and the old
//! ones drain and stop; if a new dyno crashed, the old ones take the
//! traffic back for good, the new ones stop, and the release is recorded
//! as rolled back with the reason.
//!
//! The window is a file (`probation.toml`), so it outlives the push that
//! opened it: the daemon watches it, and its reconciler settles any it
//! finds due (after a daemon restart, say). Both settle under the app's
//! lock, as every change does.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::converge::{drain_router, routes_of, Platform};
use crate::crashes;
use crate::error::Result;
use crate::logs;
use crate::release::Ledger;
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
    /// A new dyno crashed: the previous dynos serve again (the reason).
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
    let dynos = platform.runtime.list(Some(&app.name))?;
    let now = crashes::now();
    let of = |ids: &[String]| -> Vec<Dyno> {
        dynos
            .iter()
            .filter(|d| ids.contains(&d.id))
            .cloned()
            .collect()
    };
    let (new, standby) = (of(&window.new_dynos), of(&window.standby));
    let crashed: Option<(String, i32)> = window.new_dynos.iter().find_map(|id| {
        match new.iter().find(|d| &d.id == id) {
            Some(dyno) if dyno.running => None,
            Some(dyno) => Some((dyno.name(), dyno.exit_code)),
            // Removed by hand, or by podman: gone all the same.
            None => Some((id.clone(), -1)),
        }
    });
    if let Some((name, exit_code)) = crashed {
        let after = (now - window.started).max(0);
        let reason = if window.release != window.previous {
            format!(
                "{name} crashed {after} s after release v{}; back on v{}",
                window.release, window.previous
            )
        } else {
            format!("{name} crashed {after} s after it started; back on the dynos it replaced")
        };
        logs::platform(
            app,
            &name,
            &format!("Process exited with status {exit_code}"),
        );
        logs::platform(app, "api", &reason);
        // Traffic first: the standby dynos take all of it.
        platform.publish_routes(app, &routes_of(&standby))?;
        if window.release != window.previous {
            Ledger::new(app).mark_failed(window.release, &reason)?;
        }
        app.update_settings(|s| s.formation = window.previous_formation.clone())?;
        Probation::close(app);
        platform.stop(app, &new)?;
        return Ok(Outcome::RolledBack(reason));
    }
    if now < window.until {
        return Ok(Outcome::Pending);
    }
    let serving: Vec<Dyno> = dynos
        .iter()
        .filter(|d| !window.standby.contains(&d.id))
        .cloned()
        .collect();
    platform.publish_routes(app, &routes_of(&serving))?;
    let draining: Vec<String> = routes_of(&standby)
        .backends
        .into_iter()
        .map(|b| b.address)
        .collect();
    if !draining.is_empty() {
        let _ = drain_router(platform.root, &draining);
    }
    Probation::close(app);
    logs::platform(
        app,
        "api",
        &format!(
            "Release v{} kept: its dynos stayed up {} s; stopping the previous ones",
            window.release,
            window.until - window.started
        ),
    );
    platform.stop(app, &standby)?;
    Ok(Outcome::Kept)
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
