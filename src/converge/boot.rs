//! New dynos coming up: a web dyno must listen on `$PORT` within
//! `BOOT_TIMEOUT`, then pass its health checks; the error a change fails
//! with when one does not.

use std::time::{Duration, Instant};

use super::{Platform, BOOT_TIMEOUT, R10_EXIT};
use crate::error::{Error, Result};
use crate::logs;
use crate::runtime::{Dyno, DYNO_PORT};
use crate::state::AppDir;
use crate::webhooks::events;

impl Platform<'_> {
    /// Waits for web dynos to listen on `$PORT` and checks that the others
    /// are running. Returns the dynos that did not come up, with their exit
    /// status (`R10_EXIT` for a web dyno that never listened).
    pub(super) fn wait_until_up(&self, app: &AppDir, dynos: &[Dyno]) -> Vec<(Dyno, i32)> {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let mut failures = Vec::new();
        for dyno in dynos {
            let mut dyno = dyno.clone();
            loop {
                let (running, exit_code) = self.runtime.status(&dyno).unwrap_or((false, -1));
                if !running {
                    logs::platform(
                        app,
                        &dyno.name(),
                        &format!("Process exited with status {exit_code}"),
                    );
                    events::dyno_state_changed(app, &dyno.facts(), "starting", "crashed");
                    failures.push((dyno, exit_code));
                    break;
                }
                if dyno.process_type != "web" {
                    break;
                }
                if dyno.netns.is_none() {
                    dyno = self.refresh(&dyno).unwrap_or(dyno);
                }
                if self.runtime.is_listening(&dyno, DYNO_PORT).unwrap_or(false) {
                    break;
                }
                if Instant::now() > deadline {
                    logs::platform(
                        app,
                        &dyno.name(),
                        &format!(
                            "Error R10 (Boot timeout) -> Web process failed to bind to $PORT within {} seconds of launch",
                            BOOT_TIMEOUT.as_secs()
                        ),
                    );
                    logs::platform(app, &dyno.name(), "Stopping process with SIGKILL");
                    failures.push((dyno, R10_EXIT));
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        failures
    }

    /// Runs a new dyno's checks, saying how each went in the app's log; the
    /// error of the first that fails (a `warn` check's failure is only logged)
    /// carries what every attempt saw.
    pub(super) fn check(
        &self,
        app: &AppDir,
        dyno: &Dyno,
        started: Instant,
        checks: &[crate::checks::Check],
    ) -> Result<()> {
        let target = crate::checks::Target {
            runtime: self.runtime,
            dyno,
            started,
            host: format!("{}.{}", app.name, self.settings.domain),
        };
        for check in checks {
            match crate::checks::run(check, &target) {
                Ok(seen) => logs::platform(
                    app,
                    &dyno.name(),
                    &format!("Health check {} passed: {seen}", check.describe()),
                ),
                Err(failures) => {
                    let verdict = if check.warn {
                        "failed (warn only)"
                    } else {
                        "failed"
                    };
                    logs::platform(
                        app,
                        &dyno.name(),
                        &format!(
                            "Health check {} {verdict}: {}",
                            check.describe(),
                            failures.join("; ")
                        ),
                    );
                    if check.warn {
                        continue;
                    }
                    logs::platform(app, &dyno.name(), "Stopping process with SIGKILL");
                    let mut message = format!(
                        "{} of `{}` failed its health check {}",
                        dyno.name(),
                        app.name,
                        check.describe()
                    );
                    for failure in &failures {
                        message.push_str(&format!("\n       {failure}"));
                    }
                    return Err(Error::new(message).hint(
                        "the previous release keeps serving; fix the app or its app.json `healthchecks` (`paas checks:skip` deploys without them)",
                    ));
                }
            }
        }
        Ok(())
    }

    fn refresh(&self, dyno: &Dyno) -> Result<Dyno> {
        Ok(self
            .runtime
            .list(Some(&dyno.app))?
            .into_iter()
            .find(|d| d.id == dyno.id)
            .unwrap_or_else(|| dyno.clone()))
    }
}

/// The error a user operation fails with when a new dyno does not come up.
pub(super) fn boot_error(app: &AppDir, dyno: &Dyno, exit_code: i32) -> Error {
    if exit_code == R10_EXIT {
        return Error::new(format!(
            "Error R10 (Boot timeout) -> {} of `{}` failed to bind to $PORT within {} seconds of launch",
            dyno.name(),
            app.name,
            BOOT_TIMEOUT.as_secs()
        ))
        .hint("the web process must listen on the port in `$PORT`; the previous release keeps running");
    }
    Error::new(format!(
        "{} of `{}` crashed while starting (exit status {exit_code})",
        dyno.name(),
        app.name
    ))
    .hint(format!(
        "`paas logs -a {}` shows its output; the previous release keeps running",
        app.name
    ))
}
