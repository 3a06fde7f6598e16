//! The daemon's control socket, and the route table it reloads: commands
//! ask it to reload an app's routes, drain dynos, or take a new domain.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::control::{Answer, Request};
use crate::converge::{self};
use crate::error::Result;
use crate::routes::{Backend, Routes};
use crate::runtime::podman::Podman;
use crate::runtime::Runtime;
use crate::state::{AppDir, AppName, Root, Settings};

use super::reconcile::watch_probation;
use super::{acme, router, AppRoutes, RouteTable};

/// The routes on disk, less any address no running web dyno of that app
/// has: after a reboot a stale port may belong to another program. The
/// reconciler publishes fresh routes as it brings dynos back.
pub(super) fn load_all_routes(
    root: &Root,
    settings: &Settings,
) -> Result<HashMap<String, Arc<AppRoutes>>> {
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
pub(super) async fn control_loop(
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
                    Ok(Request::DashboardAcme) => {
                        match acme.issue(&acme::Subject::Dashboard).await {
                            Ok(got) => Answer::Got(got),
                            Err(err) => Answer::Error(err),
                        }
                    }
                    Ok(Request::Acme { app }) => match acme.issue(&acme::Subject::App(app)).await {
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

pub(super) fn reload(root: &Root, table: &RouteTable, app: &AppName) {
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
