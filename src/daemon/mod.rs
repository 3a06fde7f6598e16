//! `paas daemon`: the long-running process. It owns the router, a control
//! socket on which commands ask it to reload an app's routes, and the
//! reconciler that brings dynos back after a crash or a reboot.
//!
//! Here its start, its listeners and how it ends; `router/` serves the
//! apps, `control_socket.rs` answers commands and holds the route table
//! fresh, `reconcile.rs` repairs each app every few seconds (and puts idle
//! ones to sleep), `periodic.rs` runs the other timed jobs (add-ons and
//! their backups, cron, webhook deliveries, prune), `connector.rs` reaches
//! inside dynos, `acme.rs` gets certificates, `log_file.rs` keeps a
//! `--local` install's daemon log bounded, and `dashboard/` is the web
//! dashboard the router serves at `paas.<domain>`.

pub mod acme;
mod connector;
mod control_socket;
mod dashboard;
pub mod log_file;
mod metrics;
mod periodic;
mod reconcile;
mod router;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::UnixListener;

use crate::converge::Platform;
use crate::error::{Context, Error, Result};
use crate::runtime::netns;
use crate::runtime::podman::Podman;
use crate::state::{self, Lock, Root, Settings};

pub use router::{AppRoutes, RouteTable};

use control_socket::{control_loop, load_all_routes, reload};
use periodic::{addons_loop, cron_loop, prune_loop, start_addons, stop_addons, webhooks_loop};
use reconcile::{reconcile_loop, waker};

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
    let dashboard_certificate: router::DashboardCertificate = Arc::new(
        arc_swap::ArcSwapOption::from_pointee(crate::certs::load_dashboard(&root)),
    );
    let acme = {
        let (root, table) = (root.clone(), table.clone());
        let dashboard_certificate = dashboard_certificate.clone();
        acme::Manager::new(
            root.clone(),
            Box::new(move |subject: &acme::Subject| match subject {
                acme::Subject::App(app) => reload(&root, &table, app),
                acme::Subject::Dashboard => {
                    dashboard_certificate.store(crate::certs::load_dashboard(&root).map(Arc::new))
                }
            }),
        )
    };
    tokio::spawn(acme.clone().renew_loop());
    tokio::spawn(log_file::keep_log_bounded(root.clone()));
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
    tokio::spawn(webhooks_loop(root.clone()));
    let metrics_writer: Arc<std::sync::Mutex<metrics::MetricsWriter>> = Arc::default();
    tokio::spawn(metrics::metrics_loop(root.clone(), metrics_writer.clone()));
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
            dashboard_certificate,
        },
        root.clone(),
    );
    router.serve_on_threads(http, https)?;
    let ending = signals.next().await;
    // What the router counted since the last flush goes to disk too.
    let flushing = root.clone();
    let _ = tokio::task::spawn_blocking(move || {
        metrics_writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .flush(&flushing)
    })
    .await;
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
