//! Dynos stopped as Heroku stops them, and the routes that take them out
//! of the router first.

use std::time::{Duration, Instant};

use super::Platform;
use crate::control::reload_router;
use crate::error::Result;
use crate::logs;
use crate::routes::{Backend, Routes};
use crate::runtime::Dyno;
use crate::state::{AppDir, STOP_GRACE};
use crate::webhooks::events;

impl Platform<'_> {
    /// Writes the app's routes and tells the router to load them.
    pub fn publish_routes(&self, app: &AppDir, routes: &Routes) -> Result<()> {
        routes.write(app)?;
        reload_router(self.root, app);
        Ok(())
    }

    /// Stops dynos as Heroku does, saying so in the app's log stream:
    /// SIGTERM to every process, SIGKILL after the grace period (R12).
    pub fn stop(&self, app: &AppDir, dynos: &[Dyno]) -> Result<()> {
        let grace = app.settings().map_or(STOP_GRACE, |s| s.stop_grace());
        self.stop_within(app, dynos, grace)
    }

    /// `stop` with another grace period (`ps:kill`: none).
    pub fn stop_within(&self, app: &AppDir, dynos: &[Dyno], grace: Duration) -> Result<()> {
        let running: Vec<&Dyno> = dynos.iter().filter(|d| d.running).collect();
        for dyno in &running {
            logs::platform(app, &dyno.name(), "Stopping all processes with SIGTERM");
        }
        let started = Instant::now();
        let codes = self.runtime.remove(dynos, grace)?;
        let timed_out = !grace.is_zero() && started.elapsed() >= grace;
        for (dyno, code) in dynos.iter().zip(codes) {
            if !dyno.running {
                continue;
            }
            if code == 137 && timed_out {
                logs::platform(
                    app,
                    &dyno.name(),
                    &format!(
                        "Error R12 (Exit timeout) -> At least one process failed to exit within {} seconds of SIGTERM",
                        grace.as_secs()
                    ),
                );
                logs::platform(
                    app,
                    &dyno.name(),
                    "Stopping remaining processes with SIGKILL",
                );
            }
            logs::platform(
                app,
                &dyno.name(),
                &format!("Process exited with status {code}"),
            );
            events::dyno_state_changed(app, &dyno.facts(), "up", "down");
        }
        Ok(())
    }
}

/// Where the router should send an app's requests: its running web dynos
/// (each by its network namespace, without which it cannot be reached).
pub fn routes_of(dynos: &[Dyno]) -> Routes {
    Routes {
        backends: dynos
            .iter()
            .filter(|d| d.process_type == "web" && d.running)
            .filter_map(|d| {
                Some(Backend {
                    container: d.id.clone(),
                    dyno: d.name(),
                    netns: Some(d.netns?),
                    standby: false,
                })
            })
            .collect(),
    }
}
