//! The reconciler: every few seconds each app's dynos are compared with
//! its release and formation and repaired, and apps fall asleep and wake.
//! Also the sweeps of what dead commands left, and memory quota reports.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::converge::{Mode, Platform};
use crate::error::Result;
use crate::probation::{Outcome, Probation};
use crate::release::Ledger;
use crate::state::{AppDir, AppName, Lock, Root};

use super::control_socket::reload;
use super::{router, RouteTable};

use super::{on_platform, RECONCILE_EVERY};

/// Brings every app back to its release and formation: at start (after a
/// reboot or a daemon restart) and then every few seconds (a dyno died).
pub(super) async fn reconcile_loop(
    root: Root,
    table: RouteTable,
    in_flight: Arc<router::InFlight>,
) {
    // Apps whose repair is still running: a slow one (a dyno that takes its
    // full boot timeout) must not hold up the others.
    let busy: Arc<std::sync::Mutex<HashSet<AppName>>> = Arc::default();
    let forwarding: Arc<std::sync::Mutex<HashSet<AppName>>> = Arc::default();
    loop {
        match root.apps() {
            Ok(apps) => {
                for name in apps {
                    start_drain_forwarder(&root, &name, &forwarding);
                    if !busy.lock().expect("not poisoned").insert(name.clone()) {
                        continue;
                    }
                    let (root, table, busy) = (root.clone(), table.clone(), busy.clone());
                    let in_flight = in_flight.clone();
                    tokio::task::spawn_blocking(move || {
                        // Read when autosleep decides, under the app's lock;
                        // a request under way (a stream, a socket) is activity.
                        let last_request = || {
                            let table = table.load();
                            let routes = table.get(name.as_str())?;
                            let containers: Vec<&str> = routes
                                .backends()
                                .iter()
                                .map(|b| b.container.as_str())
                                .collect();
                            if in_flight.count(&containers) > 0 {
                                return Some(crate::crashes::now());
                            }
                            Some(routes.last_request.load(Ordering::Relaxed)).filter(|at| *at > 0)
                        };
                        // After a repair the routes file matches the running
                        // dynos: reloaded while the app's lock is still held,
                        // so a command's own reload right after is never undone.
                        let reload = || reload(&root, &table, &name);
                        match reconcile_one(&root, &name, last_request, reload) {
                            Ok(()) => {}
                            Err(err) => {
                                eprintln!("paas daemon: {name}: {}", err.report().trim_end())
                            }
                        }
                        busy.lock().expect("not poisoned").remove(&name);
                    });
                }
            }
            Err(err) => eprintln!("paas daemon: listing apps: {}", err.report().trim_end()),
        }
        tokio::time::sleep(RECONCILE_EVERY).await;
    }
}

/// Starts forwarding the app's stream to its drains, unless that runs; the
/// forwarder ends when the app has no drains left.
pub(super) fn start_drain_forwarder(
    root: &Root,
    name: &AppName,
    forwarding: &Arc<std::sync::Mutex<HashSet<AppName>>>,
) {
    let app = root.app(name);
    let has_drains = app.settings().is_ok_and(|s| !s.drains.is_empty());
    if !has_drains
        || !forwarding
            .lock()
            .expect("not poisoned")
            .insert(name.clone())
    {
        return;
    }
    let (name, forwarding, root) = (name.clone(), forwarding.clone(), root.clone());
    std::thread::spawn(move || {
        let drains = || {
            app.settings()
                .map(|s| {
                    s.drains
                        .iter()
                        .filter_map(|d| crate::logs::drain::parse(d).ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        // Read when a drain is to be connected: an install that allows
        // drains in its own network, or no longer does, counts from the
        // next connection.
        let reach = || {
            root.settings()
                .map_or(crate::net::Reach::Internet, |s| s.url_reach())
        };
        crate::logs::drain::forward(&app, drains, reach);
        forwarding.lock().expect("not poisoned").remove(&name);
    });
}

/// Repairs one app; `Ok(false)` when it was not its turn (locked, gone,
/// never deployed).
fn reconcile_one(
    root: &Root,
    name: &AppName,
    last_request: impl Fn() -> Option<i64>,
    reload: impl FnOnce(),
) -> Result<()> {
    on_platform(root, |platform| {
        reconcile_app(platform, &root.app(name), last_request, reload)
    })
}

/// Repairs one app and reloads its routes, unless a command holds its lock
/// (the command converges and publishes itself).
fn reconcile_app(
    platform: &Platform,
    app: &AppDir,
    last_request: impl Fn() -> Option<i64>,
    reload: impl FnOnce(),
) -> Result<()> {
    let Some(lock) = Lock::try_acquire(&app.lock_file())? else {
        return Ok(());
    };
    // Destroyed or renamed between listing and locking.
    if !app.exists() {
        return Ok(());
    }
    // A rename whose command was killed: finished, or undone.
    if let Err(err) = crate::apps::rename::resume(platform, app) {
        eprintln!("paas daemon: {}: {}", app.name, err.report().trim_end());
    }
    // First: an app never deployed (its first push died) is left here too.
    if let Err(err) = crate::interrupted::sweep(platform, app, &lock) {
        eprintln!("paas daemon: {}: {}", app.name, err.report().trim_end());
    }
    // An open window's dynos are the window's to settle: the previous
    // release's, on standby, must not be taken for dynos to retire.
    if crate::probation::settle(platform, app)? == Outcome::Pending {
        // After a daemon restart, nothing watches it yet.
        watch_probation(platform.root, app.name.clone());
        return Ok(());
    }
    let Some(release) = Ledger::new(app).current()? else {
        return Ok(());
    };
    let mut settings = app.settings()?;
    if falls_asleep(platform, app, &settings, last_request)? {
        settings = app.update_settings(|s| s.asleep_since = Some(crate::crashes::now()))?;
    }
    let mut formation = settings.formation.clone();
    if settings.asleep_since.is_some() {
        formation.remove("web");
    }
    // Its dynos run on the cluster (#24): none here.
    if settings.scheduler == crate::state::Scheduler::Kubernetes {
        formation.clear();
    }
    platform.converge(app, &release, &formation, Mode::Repair, || Ok(()))?;
    let dynos = platform.runtime.list(Some(&app.name))?;
    let live = dynos.iter().map(|d| d.log_file_name()).collect();
    let limit = settings
        .log_limit_mb
        .map_or(crate::logs::DEFAULT_LIMIT_BYTES, |mb| mb * 1024 * 1024);
    crate::logs::enforce_limit(app, &live, limit);
    if platform.settings.limits_enforced {
        report_memory_quota(platform, app, &dynos);
    }
    reload();
    let containers = dynos.into_iter().map(|d| d.id).collect();
    crate::runtime::podman::sweep_env_files(
        platform.root,
        &platform.settings.install_id,
        &app.name,
        &containers,
    );
    Ok(())
}

/// Apps whose window (`probation`) a thread of the daemon watches.
static WATCHING: std::sync::Mutex<Vec<AppName>> = std::sync::Mutex::new(Vec::new());

/// Watches an app's window until it is settled, twice a second, so a new
/// dyno that crashes hands the traffic back and is recorded at once. One
/// thread per app; it takes the app's lock for each look (a command
/// holding it goes first, and may open the next window).
pub(super) fn watch_probation(root: &Root, name: AppName) {
    {
        let mut watching = WATCHING.lock().expect("not poisoned");
        if watching.contains(&name) {
            return;
        }
        watching.push(name.clone());
    }
    let root = root.clone();
    std::thread::spawn(move || {
        let app = root.app(&name);
        while Probation::load(&app).is_some() {
            std::thread::sleep(Duration::from_millis(500));
            let Ok(Some(_lock)) = Lock::try_acquire(&app.lock_file()) else {
                continue;
            };
            match on_platform(&root, |platform| crate::probation::settle(platform, &app)) {
                Ok(Outcome::Pending | Outcome::Closed) => {}
                Ok(Outcome::Kept) => eprintln!("paas daemon: {name}: kept its new release"),
                Ok(Outcome::RolledBack(why)) => eprintln!("paas daemon: {name}: {why}"),
                Err(err) => {
                    eprintln!("paas daemon: {name}: {}", err.report().trim_end());
                    std::thread::sleep(RECONCILE_EVERY);
                }
            }
        }
        WATCHING
            .lock()
            .expect("not poisoned")
            .retain(|watched| *watched != name);
    });
}

/// Whether an app with autosleep has had no request for its time (counted
/// from its newest web dyno's start when that is later): its web dynos then
/// stop until a request wakes it. Logs Heroku's `Idling` when so.
fn falls_asleep(
    platform: &Platform,
    app: &AppDir,
    settings: &crate::state::AppSettings,
    last_request: impl Fn() -> Option<i64>,
) -> Result<bool> {
    let Some(after) = settings.autosleep_after_secs else {
        return Ok(false);
    };
    if settings.asleep_since.is_some() || settings.maintenance {
        return Ok(false);
    }
    let web: Vec<_> = platform
        .runtime
        .list(Some(&app.name))?
        .into_iter()
        .filter(|d| d.process_type == "web" && d.running)
        .collect();
    let Some(newest) = web.iter().map(|d| d.started_at).max() else {
        return Ok(false);
    };
    let active = last_request().unwrap_or(0).max(newest);
    if crate::crashes::now() - active < after as i64 {
        return Ok(false);
    }
    for dyno in &web {
        crate::logs::platform(app, &dyno.name(), "Idling");
    }
    Ok(true)
}

/// The router's way to wake an app: one blocking task per app at a time
/// starts the web dynos (no checks: the release passed them), then clears
/// `asleep_since` and reloads the routes.
pub(super) fn waker(root: Root, table: RouteTable) -> router::Wake {
    let waking: Arc<std::sync::Mutex<HashSet<String>>> = Arc::default();
    // The daemon's runtime, not the router thread's that asks.
    let runtime = tokio::runtime::Handle::current();
    Arc::new(move |app: &str| {
        let Ok(name) = AppName::parse(app) else {
            return;
        };
        if !waking.lock().expect("not poisoned").insert(app.to_string()) {
            return;
        }
        let (root, table, waking) = (root.clone(), table.clone(), waking.clone());
        runtime.spawn_blocking(move || {
            if let Err(err) = wake(&root, &name, || reload(&root, &table, &name)) {
                eprintln!("paas daemon: waking {name}: {}", err.report().trim_end());
            }
            waking.lock().expect("not poisoned").remove(name.as_str());
        });
    })
}

fn wake(root: &Root, name: &AppName, reload: impl FnOnce()) -> Result<()> {
    let app = root.app(name);
    // Waits for a command or a repair of the app to finish.
    let _lock = app.lock()?;
    let settings = app.settings()?;
    if settings.asleep_since.is_none() {
        reload();
        return Ok(());
    }
    let Some(release) = Ledger::new(&app).current()? else {
        return Ok(());
    };
    crate::logs::platform(&app, "router", "Unidling: a request arrived");
    // Still marked asleep while the dynos boot: a reload meanwhile keeps
    // requests waiting instead of answering H10.
    let result = on_platform(root, |platform| {
        platform.converge(&app, &release, &settings.formation, Mode::Repair, || Ok(()))
    });
    app.update_settings(|s| s.asleep_since = None)?;
    reload();
    result
}

/// How often a dyno over its memory quota is reported, as Heroku's R14.
const R14_EVERY: Duration = Duration::from_secs(20);

/// Logs `Error R14 (Memory quota exceeded)` for dynos at their quota.
fn report_memory_quota(platform: &Platform, app: &AppDir, dynos: &[crate::runtime::Dyno]) {
    /// Per app, per dyno id: when R14 was last logged.
    static REPORTED: std::sync::LazyLock<
        std::sync::Mutex<HashMap<AppName, HashMap<String, std::time::Instant>>>,
    > = std::sync::LazyLock::new(Default::default);
    let running: Vec<_> = dynos.iter().filter(|d| d.running).cloned().collect();
    let Ok(usage) = platform.runtime.memory_percent(&running) else {
        return;
    };
    let now = std::time::Instant::now();
    let mut reported_by_app = REPORTED.lock().expect("not poisoned");
    let reported = reported_by_app.entry(app.name.clone()).or_default();
    reported.retain(|id, _| running.iter().any(|d| &d.id == id));
    for (id, percent) in usage {
        let Some(dyno) = running.iter().find(|d| d.id == id) else {
            continue;
        };
        let due = reported
            .get(&id)
            .is_none_or(|last| now.duration_since(*last) >= R14_EVERY);
        if percent >= crate::runtime::R14_PERCENT && due {
            let name = dyno.name();
            crate::logs::platform(
                app,
                &name,
                &format!(
                    "Process running at {percent:.1}% of its memory quota ({})",
                    dyno.size
                ),
            );
            crate::logs::platform(app, &name, "Error R14 (Memory quota exceeded)");
            reported.insert(id, now);
        }
    }
}
