//! The HTTP router: `Host: <app>.<domain>`, or a custom domain of the app
//! (`domains:add`), goes to one of the app's web dynos, round robin.
//! Unknown hosts get a plain 404, apps without a running web dyno a 503, a
//! request whose host is ambiguous or whose body is malformed a 400
//! (`request_host`, `client_body`). Every request to an app is logged to
//! its stream in Heroku's router format.
//!
//! The files, by what they do:
//!
//! - here, `Router`: what a router thread serves from, and how it is made;
//!   `threads`: one router thread per CPU, and the accept loop;
//! - `table`: the route table, which dyno takes a request, which app a
//!   host names; `admission`: where a request goes (answered by the router
//!   itself, or to which dyno), waking a sleeping app; `in_flight`: the
//!   requests under way per dyno, which deploys wait for;
//! - `http1`: the router's own HTTP/1.1 path, for plain HTTP, with its
//!   kept-alive dyno connections in `dyno_pool`;
//! - `hyper_path`: hyper's path (HTTPS, HTTP/2, upgrades, and what `http1`
//!   hands over), with `client_body`; `tls`: the HTTPS listener (SNI, ALPN);
//! - `connections`: the connections a client may hold (per address and
//!   in all, past which new ones are shed) and how long one may wait for
//!   a request's head; `connection_clock`: those time limits on hyper's
//!   path;
//! - the dashboard (`super::dashboard`) answers `paas.<domain>` on hyper's
//!   path: the HTTP/1.1 path hands such a connection over (`is_dashboard`);
//! - what both paths share: `request_host` (which host a request is for),
//!   `forwarding` (the headers set and dropped, the time limits), `pages`
//!   (the answers the router makes itself), `request_log` (request ids, the
//!   log line and its writer).
//!
//! Each file's `impl Router` reads `Router`'s fields, private to this
//! module (and so seen by its files); any other item one file uses from
//! another is `pub(super)`, with a comment saying what it is for.

use std::sync::Arc;

use hyper_util::client::legacy::Client;

use super::connector::TimedConnector;
use super::dashboard::Dashboard;
use crate::runtime::netns::DynoConnector;
use crate::state::Root;

mod admission;
mod client_body;
mod connection_clock;
mod connections;
mod dyno_pool;
mod forwarding;
mod http1;
mod hyper_path;
mod in_flight;
#[cfg(test)]
mod loopback_tests;
mod pages;
mod request_host;
mod request_log;
mod table;
mod threads;
mod tls;

pub use admission::Wake;
pub use connections::ConnectionLimits;
use connections::Connections;
use dyno_pool::DynoPool;
use hyper_path::{dyno_client, Body};
pub use in_flight::InFlight;
use request_log::{RequestIds, RequestLog};
pub use table::{AppRoutes, DashboardCertificate, Domain, Idle, MaintenancePage, RouteTable};

/// One router per thread (see `serve_on_threads`): all share the routes,
/// the request log and the in-flight counts; each keeps its own pool of
/// connections to dynos.
pub struct Router {
    /// The platform's domain, for which app a host names.
    domain: Domain,
    /// The ports clients connect to, for `X-Forwarded-Port` and redirects.
    port: u16,
    https_port: Option<u16>,
    /// The routes, shared with every thread and the daemon.
    table: RouteTable,
    /// hyper's client to dynos, for the hyper path.
    client: Client<TimedConnector, Body>,
    /// For the HTTP/1.1 path.
    dyno_pool: DynoPool,
    /// Connects to dynos inside their network namespaces (`runtime::netns`).
    dyno_connector: DynoConnector,
    /// Shared with the daemon, which drains dynos by it.
    in_flight: Arc<InFlight>,
    /// The request log, shared with every thread.
    log: RequestLog,
    /// Ids for requests that come without a sane one of their own.
    request_ids: Arc<RequestIds>,
    /// Wakes a sleeping app (admission).
    wake: Wake,
    /// The answers to ACME HTTP-01 challenges, by token (admission).
    challenges: super::acme::Challenges,
    /// The limits on client connections, and the connections open (shared
    /// with every thread): checked at each accept.
    limits: ConnectionLimits,
    connections: Arc<Connections>,
    /// Answers `paas.<domain>` (on hyper's path) before any app routing.
    dashboard: Arc<Dashboard>,
    /// The dashboard's own certificate, if it has one.
    dashboard_certificate: DashboardCertificate,
}

/// What the router shares with the rest of the daemon.
pub struct RouterParts {
    pub table: RouteTable,
    pub in_flight: Arc<InFlight>,
    pub wake: Wake,
    pub challenges: super::acme::Challenges,
    /// The socket of the `runtime::netns` helper.
    pub connector_socket: std::path::PathBuf,
    /// What a client connection may hold (`ConnectionLimits::for_this_process`).
    pub limits: ConnectionLimits,
    pub dashboard_certificate: DashboardCertificate,
}

impl Router {
    pub fn new(
        domain: Domain,
        port: u16,
        https_port: Option<u16>,
        parts: RouterParts,
        root: Root,
    ) -> Arc<Router> {
        let dyno_connector = DynoConnector::new(parts.connector_socket);
        Arc::new(Router {
            client: dyno_client(&dyno_connector, &parts.table),
            domain,
            port,
            https_port,
            table: parts.table,
            dyno_pool: DynoPool::default(),
            dyno_connector,
            in_flight: parts.in_flight,
            dashboard: Dashboard::new(root.clone()),
            log: RequestLog::start(root),
            request_ids: Arc::default(),
            wake: parts.wake,
            challenges: parts.challenges,
            limits: parts.limits,
            connections: Connections::new(parts.limits),
            dashboard_certificate: parts.dashboard_certificate,
        })
    }

    /// Whether a request's `Host` (as sent, with any port) is the
    /// dashboard's.
    fn is_dashboard(&self, host: &str) -> bool {
        Dashboard::serves(request_host::host_name(host), &self.domain.load())
    }
}
