//! `paas daemon`: the long-running process. It owns the router, a control
//! socket on which commands ask it to reload an app's routes, and the
//! reconciler that brings dynos back after a crash or a reboot.

pub mod acme;
mod connector;
mod router;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::addons;
use crate::control::{Answer, Request};
use crate::converge::{self, Mode, Platform};
use crate::error::{Context, Error, Result};
use crate::probation::{Outcome, Probation};
use crate::release::Ledger;
use crate::routes::{Backend, Routes};
use crate::runtime::podman::Podman;
use crate::runtime::{netns, Runtime};
use crate::state::{self, AppDir, AppName, Lock, Root, Settings};

pub use router::{AppRoutes, RouteTable};

/// How often the reconciler compares what runs with what should.
const RECONCILE_EVERY: Duration = Duration::from_secs(5);

pub fn run(root: Root) -> Result<()> {
    raise_open_file_limit();
    let settings = root.settings()?;
    state::create_dir(&root.run_dir(), 0o755)?;
    // One daemon per root: a second one exits instead of fighting over the ports.
    let Some(_lock) = Lock::try_acquire(&root.run_dir().join("daemon.lock"))? else {
        return Err(Error::new(format!(
            "a paas daemon is already running for `{}`",
            root.path.display()
        )));
    };
    state::write_atomic(
        &root.daemon_pid_file(),
        format!("{}\n", std::process::id()).as_bytes(),
        0o644,
    )?;
    // Add-ons first: an app's first request after a start finds its database.
    start_addons(&root, &settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context(|| "starting the async runtime".into())?;
    if runtime.block_on(serve(root, settings))? == Ending::Restart {
        // At once: the runtime's blocking tasks (a repair under way) need
        // not finish, the next daemon takes over (and `Drop` would wait).
        std::process::exit(RESTART_EXIT);
    }
    Ok(())
}

/// Every client connection holds a file descriptor, twice while it is
/// relayed: the soft limit services get (1024 under systemd) would let a
/// thousand idle connections shut the router for every app. The hard
/// limit is the daemon's to take.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                eprintln!(
                    "paas daemon: could not raise the open-file limit to {}",
                    limit.rlim_max
                );
            }
        }
    }
}

/// The exit status of a daemon that ends to be started again (SIGHUP):
/// its supervisor starts the next one at once (systemd restarts any exit).
pub const RESTART_EXIT: i32 = 75;

async fn serve(root: Root, settings: Settings) -> Result<Ending> {
    // Before anything answers on the control socket, so a SIGHUP sent
    // once the daemon answers is never the default (fatal) one.
    let signals = Signals::new();
    let table: RouteTable = Arc::new(ArcSwap::from_pointee(load_all_routes(&root, &settings)?));
    let socket_path = root.control_socket();
    let _ = std::fs::remove_file(&socket_path);
    let control = UnixListener::bind(&socket_path)
        .context(|| format!("listening on `{}`", socket_path.display()))?;
    let address = if settings.local {
        "127.0.0.1"
    } else {
        "0.0.0.0"
    };
    let http = listen(address, settings.http_port, "--http-port").await?;
    let https = match settings.https_port {
        Some(port) => Some(listen(address, port, "--https-port").await?),
        None => None,
    };
    eprintln!(
        "paas daemon: routing http://*.{}:{} (root `{}`){}",
        settings.domain,
        settings.http_port,
        root.path.display(),
        settings
            .https_port
            .map_or(String::new(), |port| format!(", and HTTPS on {port}"))
    );

    let domain: router::Domain = Arc::new(ArcSwap::from_pointee(settings.domain.clone()));
    let in_flight: Arc<router::InFlight> = Arc::default();
    let acme = {
        let (root, table) = (root.clone(), table.clone());
        acme::Manager::new(
            root.clone(),
            Box::new(move |app: &AppName| reload(&root, &table, app)),
        )
    };
    tokio::spawn(acme.clone().renew_loop());
    // Dynos are reached only through the connector: it is up before the
    // daemon answers (`server start` waits for that) or serves.
    netns::keep_helper_running(root.clone());
    netns::DynoConnector::new(netns::socket_path(&root))
        .wait_for_helper()
        .await;
    tokio::spawn(control_loop(
        control,
        root.clone(),
        table.clone(),
        in_flight.clone(),
        acme.clone(),
        domain.clone(),
    ));
    tokio::spawn(reconcile_loop(
        root.clone(),
        table.clone(),
        in_flight.clone(),
    ));
    tokio::spawn(prune_loop(root.clone()));
    tokio::spawn(cron_loop(root.clone()));
    let addons_task = tokio::spawn(addons_loop(root.clone(), settings.clone()));
    // From the open-file limit, raised at the start.
    let limits = router::ConnectionLimits::for_this_process();
    eprintln!("paas daemon: router: {limits}");
    let router = router::Router::new(
        domain,
        settings.http_port,
        settings.https_port,
        router::RouterParts {
            table: table.clone(),
            in_flight,
            wake: waker(root.clone(), table),
            challenges: acme.challenges.clone(),
            connector_socket: netns::socket_path(&root),
            limits,
        },
        root.clone(),
    );
    router.serve_on_threads(http, https)?;
    let ending = signals.next().await;
    // No restarts from here on: the loop ends before the add-ons stop.
    addons_task.abort();
    let _ = addons_task.await;
    match ending {
        Ending::Stop => {
            eprintln!("paas daemon: stopping");
            let (stopping, settings) = (root.clone(), settings.clone());
            let _ = tokio::task::spawn_blocking(move || stop_addons(&stopping, &settings)).await;
        }
        // Dynos and add-ons keep running; the next daemon adopts them.
        Ending::Restart => eprintln!(
            "paas daemon: exiting to be started again (SIGHUP: new settings or a new binary)"
        ),
    }
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(root.daemon_pid_file());
    Ok(ending)
}

async fn listen(address: &str, port: u16, option: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind((address, port))
        .await
        .map_err(|err| {
            Error::new(format!("the router cannot listen on port {port}"))
                .cause(err)
                .hint(format!(
                    "another program holds that port; pick another with `{option}`"
                ))
        })
}

/// Starts every add-on that is not running and waits until each accepts
/// connections (or says why not, in the daemon's log).
fn start_addons(root: &Root, settings: &Settings) {
    // Bounded (`server start` waits longer): what is not ready by then is
    // the add-ons loop's to finish.
    let deadline = std::time::Instant::now() + addons::service::READY_TIMEOUT;
    for addon in root.addons().unwrap_or_default() {
        let dir = root.addon(&addon.name);
        let result = addons::service::ensure_running(settings, root, &addon)
            .and_then(|_| addons::service::wait_ready(settings, &addon, &dir, deadline));
        if let Err(err) = result {
            eprintln!("paas daemon: {}: {}", addon.name, err.report().trim_end());
        }
    }
}

/// Stops the add-ons cleanly when the platform stops. Each add-on's lock is
/// held meanwhile, so a restart already under way finishes first and no
/// command starts one again.
fn stop_addons(root: &Root, settings: &Settings) {
    let addons = root.addons().unwrap_or_default();
    let _locks: Vec<Lock> = addons
        .iter()
        .filter_map(|a| root.addon(&a.name).lock().ok())
        .collect();
    let names: Vec<String> = addons.into_iter().map(|a| a.name).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Err(err) = addons::service::stop(settings, &names) {
        eprintln!("paas daemon: stopping add-ons: {}", err.report().trim_end());
    }
}

/// Restarts add-ons that died (a killed container is back within seconds)
/// and takes the scheduled backups. An add-on being changed by a command
/// (its lock held) is left alone.
async fn addons_loop(root: Root, settings: Settings) {
    loop {
        tokio::time::sleep(RECONCILE_EVERY).await;
        let (root, settings) = (root.clone(), settings.clone());
        let _ = tokio::task::spawn_blocking(move || {
            for addon in root.addons().unwrap_or_default() {
                let dir = root.addon(&addon.name);
                let Ok(Some(_lock)) = Lock::try_acquire(&dir.path.join("lock")) else {
                    continue;
                };
                match addons::service::ensure_running(&settings, &root, &addon) {
                    Ok(true) => {
                        eprintln!("paas daemon: {}: was not running; started it", addon.name)
                    }
                    Ok(false) => {}
                    Err(err) => {
                        eprintln!("paas daemon: {}: {}", addon.name, err.report().trim_end())
                    }
                }
            }
            if let Err(err) = crate::runtime::network::ensure_isolation(&settings) {
                eprintln!("paas daemon: {}", err.report().trim_end());
            }
            addons::backups::run_due_schedules(&root, &settings);
        })
        .await;
    }
}

/// Scheduled jobs (`app.json` `cron`): each few seconds, each app not
/// busy with a command (its lock held) starts what is due this minute.
async fn cron_loop(root: Root) {
    // What each app's last pass said went wrong: said once, not each pass.
    let said = Arc::new(std::sync::Mutex::new(HashMap::<String, String>::new()));
    loop {
        tokio::time::sleep(RECONCILE_EVERY).await;
        let (root, said) = (root.clone(), said.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let _ = on_platform(&root, |platform| {
                for name in root.apps()? {
                    let app = root.app(&name);
                    // The repair pass holds each app's lock a moment every
                    // few seconds too: wait that out, not a deploy.
                    let Some(_lock) = lock_within(&app, Duration::from_secs(10)) else {
                        continue;
                    };
                    let now = crate::crashes::now();
                    let problem = match crate::cron::tick(platform, &app, now) {
                        Ok(()) => String::new(),
                        Err(err) => err.report().trim_end().to_string(),
                    };
                    let mut said = said.lock().expect("not poisoned");
                    if said.get(name.as_str()) != Some(&problem) {
                        if !problem.is_empty() {
                            eprintln!("paas daemon: {name}: cron: {problem}");
                        }
                        said.insert(name.to_string(), problem);
                    }
                }
                Ok(())
            });
        })
        .await;
    }
}

/// The app's lock, if it comes free within `wait`.
fn lock_within(app: &AppDir, wait: Duration) -> Option<Lock> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Ok(Some(lock)) = Lock::try_acquire(&app.lock_file()) {
            return Some(lock);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `paas server prune`'s work, once a day: the first an hour after the
/// daemon starts, so a restart does not prune while a deploy waits on it.
const PRUNE_FIRST: Duration = Duration::from_secs(3600);
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

async fn prune_loop(root: Root) {
    tokio::time::sleep(PRUNE_FIRST).await;
    loop {
        let root = root.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let pruned = on_platform(&root, |p| {
                crate::prune::everything(p.root, p.settings, p.runtime)
            });
            match pruned {
                Ok(pruned) => eprintln!(
                    "paas daemon: pruned {} slugs and unpacked ones ({}), {} builds' leftovers, {} containers, {} images",
                    pruned.slugs.count,
                    crate::slug::human_size(pruned.slugs.bytes + pruned.builds.bytes),
                    pruned.builds.count,
                    pruned.containers.len(),
                    pruned.images.len()
                ),
                Err(err) => eprintln!("paas daemon: pruning: {}", err.report().trim_end()),
            }
        })
        .await;
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}

/// How the daemon ends: SIGTERM or SIGINT stop the platform (add-ons shut
/// down cleanly); SIGHUP ends only the daemon, with `RESTART_EXIT`, and
/// its supervisor (paas's own, or systemd) starts it again at once,
/// reading the settings and binary anew. `paas server install` sends it
/// when either changed.
#[derive(PartialEq)]
enum Ending {
    Stop,
    Restart,
}

struct Signals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            interrupt: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            hangup: signal(SignalKind::hangup()).expect("SIGHUP handler"),
        }
    }

    async fn next(mut self) -> Ending {
        tokio::select! {
            _ = self.term.recv() => Ending::Stop,
            _ = self.interrupt.recv() => Ending::Stop,
            _ = self.hangup.recv() => Ending::Restart,
        }
    }
}

/// The routes on disk, less any address no running web dyno of that app
/// has: after a reboot a stale port may belong to another program. The
/// reconciler publishes fresh routes as it brings dynos back.
fn load_all_routes(root: &Root, settings: &Settings) -> Result<HashMap<String, Arc<AppRoutes>>> {
    let runtime = Podman::for_install(root, settings);
    let running = runtime.list(None).unwrap_or_else(|err| {
        eprintln!("paas daemon: listing dynos: {}", err.report().trim_end());
        Vec::new()
    });
    let mut table = HashMap::new();
    for app in root.apps()? {
        let dynos: Vec<_> = running.iter().filter(|d| d.app == app).cloned().collect();
        let live = converge::routes_of(&dynos).backends;
        let backends: Vec<Backend> = Routes::read(&root.app(&app))
            .backends
            .into_iter()
            // The live entry: its namespace is today's (routes written by
            // an older paas have none).
            .filter_map(|b| {
                live.iter()
                    .find(|l| l.container == b.container && l.dyno == b.dyno)
                    .cloned()
            })
            .collect();
        let (routes, domains) = app_routes(&root.app(&app), backends);
        // Autosleep counts idle time from the daemon's start at the earliest.
        let started = Arc::new(std::sync::atomic::AtomicI64::new(crate::crashes::now()));
        let routes = Arc::new(routes.with_last_request(started));
        for domain in domains {
            table.insert(domain, routes.clone());
        }
        table.insert(app.to_string(), routes);
    }
    Ok(table)
}

/// Answers the requests of the control socket (`control::Request`), one
/// line each, on as many connections as come.
async fn control_loop(
    listener: UnixListener,
    root: Root,
    table: RouteTable,
    in_flight: Arc<router::InFlight>,
    acme: Arc<acme::Manager>,
    domain: router::Domain,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let root = root.clone();
        let table = table.clone();
        let in_flight = in_flight.clone();
        let acme = acme.clone();
        let domain = domain.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let answer = match Request::decode(&line) {
                    Err(err) => Answer::Error(err.to_string()),
                    Ok(Request::Ping) => Answer::Ok,
                    Ok(Request::Domain) => match root.settings() {
                        Ok(settings) => {
                            domain.store(Arc::new(settings.domain));
                            Answer::Ok
                        }
                        Err(err) => Answer::Error(err.message().to_string()),
                    },
                    Ok(Request::Drain { containers }) => {
                        let containers: Vec<&str> = containers.iter().map(String::as_str).collect();
                        in_flight.drain(&containers).await;
                        Answer::Ok
                    }
                    Ok(Request::Acme { app }) => match acme.issue(&app).await {
                        Ok(got) => Answer::Got(got),
                        Err(err) => Answer::Error(err),
                    },
                    Ok(Request::Probation { app }) => {
                        watch_probation(&root, app);
                        Answer::Ok
                    }
                    Ok(Request::Reload { app }) => {
                        reload(&root, &table, &app);
                        Answer::Ok
                    }
                };
                if write
                    .write_all(format!("{}\n", answer.encode()).as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
}

/// An app's routes, as its settings shape them (maintenance mode, sleep),
/// and the custom domains they answer under.
fn app_routes(dir: &AppDir, backends: Vec<Backend>) -> (AppRoutes, Vec<String>) {
    let settings = dir.settings().unwrap_or_default();
    let idle = if settings.asleep_since.is_some() {
        router::Idle::Asleep
    } else if settings.formation.get("web").copied().unwrap_or(0) > 0 {
        router::Idle::Crashed
    } else {
        router::Idle::NoneWanted
    };
    let mut routes = AppRoutes::new(dir.name.as_str(), backends).when_idle(idle);
    if settings.maintenance {
        routes = routes.in_maintenance(match std::fs::read(dir.maintenance_page_file()) {
            Ok(page) => router::MaintenancePage::Custom(page.into()),
            Err(_) => router::MaintenancePage::Plain,
        });
    }
    if let Some(bundle) = crate::certs::load(dir) {
        routes = routes.with_certificate(bundle.key, bundle.summary.names, settings.https_redirect);
    }
    (routes, settings.domains)
}

fn reload(root: &Root, table: &RouteTable, app: &AppName) {
    let dir = root.app(app);
    let (entry, domains) = if dir.exists() {
        let (routes, domains) = app_routes(&dir, Routes::read(&dir).backends);
        let routes = match table.load().get(app.as_str()) {
            Some(previous) => routes.with_last_request(previous.last_request.clone()),
            None => routes,
        };
        (Some(Arc::new(routes)), domains)
    } else {
        (None, Vec::new())
    };
    table.rcu(|current| {
        let mut next = HashMap::clone(current);
        // The app's keys: its name and its custom domains, as they are now.
        next.retain(|_, routes| routes.app != app.as_str());
        if let Some(routes) = &entry {
            next.insert(app.to_string(), routes.clone());
            for domain in &domains {
                next.insert(domain.clone(), routes.clone());
            }
        }
        next
    });
}

/// Brings every app back to its release and formation: at start (after a
/// reboot or a daemon restart) and then every few seconds (a dyno died).
async fn reconcile_loop(root: Root, table: RouteTable, in_flight: Arc<router::InFlight>) {
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

/// Removes env files (config vars, 0600) left by dynos that are gone: a
/// one-off removed by podman itself, or a `paas` process that died. Files
/// under a minute old may belong to a dyno being created right now.
fn sweep_env_files(platform: &Platform, app: &AppDir) -> Result<()> {
    let prefix = format!("paas-{}-", platform.settings.install_id);
    let containers: HashSet<String> = platform
        .runtime
        .list(Some(&app.name))?
        .into_iter()
        .map(|d| d.id)
        .collect();
    let Ok(entries) = std::fs::read_dir(platform.root.run_dir().join("env")) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(container) = name.strip_suffix(".env") else {
            continue;
        };
        let ours = container
            .strip_prefix(&prefix)
            .and_then(app_of_container)
            .is_some_and(|name| name == app.name.as_str());
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > std::time::Duration::from_secs(60));
        if ours && old && !containers.contains(container) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// The app in `<app>-<type>.<index>-v<release>-<instance>`: app names have
/// dashes but no dots, dyno names have a dot, so the app ends at the last
/// dash before the first dot.
fn app_of_container(rest: &str) -> Option<&str> {
    let before_dot = &rest[..rest.find('.')?];
    Some(&before_dot[..before_dot.rfind('-')?])
}

/// Starts forwarding the app's stream to its drains, unless that runs; the
/// forwarder ends when the app has no drains left.
fn start_drain_forwarder(
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
    let (name, forwarding) = (name.clone(), forwarding.clone());
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
        crate::logs::drain::forward(&app, drains);
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

/// Runs `work` with the install's platform (settings read afresh, podman).
fn on_platform<T>(root: &Root, work: impl FnOnce(&Platform) -> Result<T>) -> Result<T> {
    let settings = root.settings()?;
    let runtime = Podman::for_install(root, &settings);
    work(&Platform {
        root,
        settings: &settings,
        runtime: &runtime,
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
    sweep_env_files(platform, app)
}

/// Apps whose window (`probation`) a thread of the daemon watches.
static WATCHING: std::sync::Mutex<Vec<AppName>> = std::sync::Mutex::new(Vec::new());

/// Watches an app's window until it is settled, twice a second, so a new
/// dyno that crashes hands the traffic back and is recorded at once. One
/// thread per app; it takes the app's lock for each look (a command
/// holding it goes first, and may open the next window).
fn watch_probation(root: &Root, name: AppName) {
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
fn waker(root: Root, table: RouteTable) -> router::Wake {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_give_their_app() {
        assert_eq!(app_of_container("web-web.1-v3-ab12cd34"), Some("web"));
        assert_eq!(
            app_of_container("web-api-web.1-v3-ab12cd34"),
            Some("web-api")
        );
        assert_eq!(app_of_container("a-b-c-worker.12-v1-00"), Some("a-b-c"));
        assert_eq!(app_of_container("nodot"), None);
    }
}
