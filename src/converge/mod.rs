//! Desired state, then converge: commands write what should run (a release
//! and the formation) and call `converge`, which makes the runtime match.
//!
//! New dynos start next to the old ones; web dynos must listen on `$PORT`
//! before the router switches to them, and only then do the old ones stop.
//! If the new dynos fail, they are removed and the old ones keep serving.
//!
//! Here the `Platform` and `converge` itself; `spec.rs` makes what a dyno
//! starts with, `boot.rs` waits for new dynos and checks them, `stop.rs`
//! stops dynos and publishes the routes that leave them.

mod boot;
mod spec;
mod stop;
#[cfg(test)]
mod tests;
pub use spec::APP_JSON_LIMIT;
pub use stop::routes_of;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::control::{drain_router, reload_router};
use crate::crashes::{self, Crashes};
use crate::error::Result;
use crate::logs;
use crate::release::Release;
use crate::routes::Routes;
use crate::runtime::{Dyno, DynoSpec, Runtime};
use crate::state::{AppDir, ChecksMode, Root, Settings};
use crate::webhooks::events;
use boot::boot_error;

/// How long a new web dyno has to listen on `$PORT` (Heroku's R10 limit).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// The exit status recorded for a web dyno killed for not listening in time.
pub const R10_EXIT: i32 = 137;

/// The process type of one-off dynos (`run.1`): never part of the formation.
pub const ONE_OFF_TYPE: &str = "run";
/// The release phase's one-off dyno (`release.1`): never part of the formation.
pub const RELEASE_TYPE: &str = "release";

/// Everything converge needs about the install.
pub struct Platform<'a> {
    pub root: &'a Root,
    pub settings: &'a Settings,
    pub runtime: &'a dyn Runtime,
}

/// Whether dynos already running the wanted release may stay.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Keep healthy dynos of the same release; start only what is missing.
    Keep,
    /// Replace every dyno, those of one process type (`web`), or one dyno
    /// (`web.1`): a restart.
    Replace(Option<String>),
    /// The daemon's repairs: start what is missing unless its restart
    /// backoff says wait, and record dynos that fail to boot instead of
    /// undoing the whole change.
    Repair,
}

impl Mode {
    /// Whether this converge replaces the dyno `<process_type>.<index>`.
    fn replaces(&self, process_type: &str, index: u32) -> bool {
        match self {
            Mode::Keep | Mode::Repair => false,
            Mode::Replace(None) => true,
            Mode::Replace(Some(only)) => {
                only == process_type || *only == format!("{process_type}.{index}")
            }
        }
    }
}

impl Platform<'_> {
    /// Makes the app's dynos match `release` and the formation. `commit` runs
    /// once the new dynos are up and before traffic moves: it records the
    /// release, so a release is never recorded for dynos that did not boot.
    pub fn converge(
        &self,
        app: &AppDir,
        release: &Release,
        formation: &BTreeMap<String, u32>,
        mode: Mode,
        commit: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let mut existing: Vec<Dyno> = self
            .runtime
            .list(Some(&app.name))?
            .into_iter()
            .filter(|d| {
                ![ONE_OFF_TYPE, RELEASE_TYPE, crate::cron::SCHEDULER_TYPE]
                    .contains(&d.process_type.as_str())
            })
            .collect();
        if mode != Mode::Repair {
            crate::probation::before_change(self, app, &existing)?;
        }
        let mut crashes = Crashes::load(app);
        let now = crashes::now();
        for dyno in existing.iter().filter(|d| !d.running) {
            if crashes.record(
                &dyno.name(),
                dyno.release,
                dyno.exit_code,
                &dyno.id,
                dyno.started_at,
                now,
            ) {
                // SIGKILL's status: the kernel's OOM killer, when podman says so.
                if dyno.exit_code == 137 && self.runtime.oom_killed(dyno) {
                    logs::platform(
                        app,
                        &dyno.name(),
                        "Error R15 (Memory quota vastly exceeded)",
                    );
                }
                logs::platform(
                    app,
                    &dyno.name(),
                    &format!("Process exited with status {}", dyno.exit_code),
                );
                events::dyno_state_changed(app, &dyno.facts(), "up", "crashed");
            }
        }
        if matches!(mode, Mode::Replace(_)) || existing.iter().all(|d| d.release != release.version)
        {
            // A restart or a new release starts the backoff afresh.
            crashes.dynos.retain(|name, _| {
                let (process_type, index) = name.split_once('.').unwrap_or((name, "0"));
                !mode.replaces(process_type, index.parse().unwrap_or(0))
            });
            crashes
                .dynos
                .retain(|_, crash| crash.release == release.version);
        }
        crashes.save(app)?;
        // A dead web dyno leaves the router now, not after its replacement
        // boots (which may never happen): its port may be reused by another app.
        if existing
            .iter()
            .any(|d| d.process_type == "web" && !d.running)
        {
            self.publish_routes(app, &routes_of(&existing))?;
        }
        let settings = app.settings()?;
        let mut keep: Vec<Dyno> = Vec::new();
        let mut specs: Vec<DynoSpec> = Vec::new();
        // Dynos that find an add-on at an old address are replaced.
        let (network, hosts) =
            crate::addons::dyno_network(self.root, self.runtime, &app.name, release)?;
        let network_tag = crate::runtime::network_tag(&network, &hosts);
        // Dynos started with other storages mounted are replaced too
        // (`storage:mount` and `:unmount` roll the dynos this way).
        let mounts_tag = crate::runtime::mounts_tag(&settings.mounts);
        let code = self.code(app, release)?;
        for (process_type, count) in formation {
            let Some(command) = release.processes.get(process_type) else {
                continue;
            };
            let Some(code) = &code else { continue };
            for index in 1..=*count {
                let size = settings.size_of(process_type);
                // A resized type gets new dynos: limits are set when a container starts.
                // The daemon's repairs never resize a running dyno: only a
                // user's command does, and it undoes its size change if it fails.
                let current = existing.iter().find(|d| {
                    d.running
                        && d.release == release.version
                        && &d.process_type == process_type
                        && d.index == index
                        && d.network_tag == network_tag
                        && d.mounts_tag == mounts_tag
                        && (d.size == size.name || mode == Mode::Repair)
                });
                let waiting =
                    crashes.waiting(&format!("{process_type}.{index}"), release.version, now);
                match current {
                    Some(dyno) if !mode.replaces(process_type, index) => keep.push(dyno.clone()),
                    None if mode == Mode::Repair && waiting.is_some() => {}
                    _ => {
                        let spec =
                            self.spec_off_network(app, release, process_type, index, command, code);
                        specs.push(DynoSpec {
                            size,
                            network: network.clone(),
                            hosts: hosts.clone(),
                            mounts: settings.mounts.clone(),
                            ..spec
                        })
                    }
                }
            }
        }

        let checked = mode != Mode::Repair && settings.checks == ChecksMode::Enabled;
        if mode != Mode::Repair && settings.checks == ChecksMode::Disabled {
            // Checks disabled: the dynos being replaced go first (downtime).
            let replaced: Vec<Dyno> = existing
                .iter()
                .filter(|old| !keep.iter().any(|d| d.id == old.id))
                .cloned()
                .collect();
            self.publish_routes(app, &routes_of(&keep))?;
            self.stop(app, &replaced)?;
            existing.retain(|old| !replaced.iter().any(|d| d.id == old.id));
        }
        let checks = match (&code, checked) {
            // A slug built before app.json was read may have one that does
            // not parse: its changes get the default checks, and a warning.
            (Some(_), true) => self
                .app_json(app, release)
                .and_then(|text| crate::checks::parse(text.as_deref()))
                .unwrap_or_else(|err| {
                    say!(
                        " !     warning: {}; checking with the default",
                        err.message()
                    );
                    BTreeMap::new()
                }),
            _ => BTreeMap::new(),
        };

        let mut started: Vec<Dyno> = Vec::new();
        // When each came up, at the latest: uptime checks count from there.
        let mut start_times: Vec<Instant> = Vec::new();
        for spec in &specs {
            logs::platform(
                app,
                &spec.dyno_name(),
                &format!("Starting process with command `{}`", spec.command),
            );
            match self.runtime.start(spec) {
                Ok(dyno) => {
                    events::dyno_started(app, &dyno.facts(), &spec.command);
                    started.push(dyno);
                    start_times.push(Instant::now());
                }
                Err(err) => {
                    let _ = self.runtime.remove(&started, Duration::ZERO);
                    return Err(err);
                }
            }
        }
        let failures = self.wait_until_up(app, &started);
        if mode == Mode::Repair {
            // Nothing to undo: keep the dynos that came up, count the others.
            for (dyno, exit_code) in &failures {
                crashes.record(
                    &dyno.name(),
                    dyno.release,
                    *exit_code,
                    &dyno.id,
                    now,
                    crashes::now(),
                );
            }
            crashes.save(app)?;
            let failed: Vec<Dyno> = failures.iter().map(|(d, _)| d.clone()).collect();
            let _ = self.runtime.remove(&failed, Duration::ZERO);
            started.retain(|d| !failed.iter().any(|f| f.id == d.id));
        } else if let Some((dyno, exit_code)) = failures.first() {
            let _ = self.runtime.remove(&started, Duration::ZERO);
            return Err(boot_error(app, dyno, *exit_code));
        } else if checked {
            let uptime = settings.checks_uptime(self.settings);
            for (dyno, at) in started.iter().zip(start_times) {
                // The default uptime check no longer holds traffic back: the
                // previous web dynos stay on standby for that window instead
                // (`probation`). A type's dynos other than web, with dynos
                // running that they replace, still sit it out first.
                let protecting = dyno.process_type != "web"
                    && existing
                        .iter()
                        .any(|d| d.running && d.process_type == dyno.process_type);
                let wanted = crate::checks::for_process_type(
                    &checks,
                    &dyno.process_type,
                    protecting.then_some(uptime),
                );
                if let Err(err) = self.check(app, dyno, at, &wanted) {
                    let _ = self.runtime.remove(&started, Duration::ZERO);
                    return Err(err);
                }
            }
        }
        // What ran before, for the window's rollback (the daemon's repairs
        // open no window, and need not read the ledger).
        let previous = match mode {
            Mode::Repair => release.version,
            _ => crate::release::Ledger::new(app)
                .current()?
                .map_or(release.version, |r| r.version),
        };
        let previous_formation = settings.formation.clone();
        if mode != Mode::Repair {
            // A change made while a window is open takes its place.
            crate::probation::Probation::close(app);
        }

        // What serves once the release is recorded, and what retires.
        let serving: Vec<Dyno> = keep.into_iter().chain(started.iter().cloned()).collect();
        let mut retired: Vec<Dyno> = existing
            .into_iter()
            .filter(|old| !serving.iter().any(|d| d.id == old.id))
            .collect();
        let mut standby: Vec<Dyno> = Vec::new();
        let uptime = settings.checks_uptime(self.settings);
        if checked && uptime > 0 {
            (standby, retired) = crate::probation::split_standby(retired, &started, previous);
        }
        let routes = crate::probation::routes_with_standby(&serving, &standby);
        // The routes file is written before the release is recorded and put
        // in place after (a rename, which needs no space): on a full disk a
        // user's change stops here, with the old dynos serving and nothing
        // recorded. The daemon's repairs record nothing; theirs is retried.
        let routes = match (routes != Routes::read(app)).then(|| routes.prepare(app)) {
            Some(Err(err)) if mode != Mode::Repair => {
                let _ = self.runtime.remove(&started, Duration::ZERO);
                return Err(err);
            }
            prepared => prepared,
        };
        if !standby.is_empty() {
            let now = crashes::now();
            let window = crate::probation::Probation {
                release: release.version,
                previous,
                previous_formation,
                new_dynos: started.iter().map(|d| d.id.clone()).collect(),
                standby: standby.iter().map(|d| d.id.clone()).collect(),
                started: now,
                until: now + uptime as i64,
            };
            if let Err(err) = window.save(app) {
                let _ = self.runtime.remove(&started, Duration::ZERO);
                return Err(err);
            }
        }
        if let Err(err) = commit() {
            let _ = self.runtime.remove(&started, Duration::ZERO);
            crate::probation::Probation::close(app);
            return Err(err);
        }
        for dyno in &started {
            events::dyno_state_changed(app, &dyno.facts(), "starting", "up");
        }
        // A user's change started the whole formation: the app is awake.
        if mode != Mode::Repair && settings.asleep_since.is_some() {
            app.update_settings(|s| s.asleep_since = None)?;
        }

        // The release is recorded: from here on the new dynos stay, and what
        // fails is a warning the reconciler repairs on its next pass.
        let routes_moved = match routes {
            None => Ok(()),
            Some(Ok(prepared)) => prepared
                .put_in_place()
                .map(|()| reload_router(self.root, app)),
            Some(Err(err)) => Err(err),
        }
        .map_err(|err| say!(" !     warning: {}", err.report().trim_end()))
        .is_ok();
        // Requests the old dynos took before the routes moved finish first.
        // Routes that did not move still send requests to the old dynos:
        // they keep serving until the daemon's next pass moves them.
        if !routes_moved {
            retired.clear();
        }
        let draining: Vec<String> = routes_of(&retired)
            .backends
            .into_iter()
            .map(|b| b.container)
            .collect();
        if !draining.is_empty() {
            let _ = drain_router(self.root, &draining);
        }
        if let Err(err) = self.stop(app, &retired) {
            say!(
                " !     warning: old dynos were not all stopped: {}",
                err.report().trim_end()
            );
        }
        if !standby.is_empty() {
            return crate::probation::watch(self, app, settings.checks_wait);
        }
        Ok(())
    }
}
