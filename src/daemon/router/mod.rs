//! The HTTP router: `Host: <app>.<domain>`, or a custom domain of the app
//! (`domains:add`), goes to one of the app's web dynos, round robin. Unknown hosts get a plain 404, apps without a running
//! web dyno a 503, a request whose host is ambiguous or whose body is
//! malformed a 400 (`request_host`, `client_body`). Every request to an app
//! is logged to its stream in Heroku's router format.

use std::sync::Arc;

use hyper_util::client::legacy::Client;

use super::connector::TimedConnector;
use crate::runtime::netns::DynoConnector;
use crate::state::Root;

mod admission;
mod client_body;
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
use dyno_pool::DynoPool;
use hyper_path::{dyno_client, Body};
pub use in_flight::InFlight;
use request_log::{RequestIds, RequestLog};
pub use table::{AppRoutes, Domain, Idle, MaintenancePage, RouteTable};

/// One router per thread (see `serve_on_threads`): all share the routes,
/// the request log and the in-flight counts; each keeps its own pool of
/// connections to dynos.
pub struct Router {
    domain: Domain,
    /// The ports clients connect to, for `X-Forwarded-Port` and redirects.
    port: u16,
    https_port: Option<u16>,
    table: RouteTable,
    client: Client<TimedConnector, Body>,
    /// For the HTTP/1.1 path.
    dyno_pool: DynoPool,
    /// Connects to dynos inside their network namespaces (`runtime::netns`).
    dyno_connector: DynoConnector,
    in_flight: Arc<InFlight>,
    log: RequestLog,
    request_ids: Arc<RequestIds>,
    wake: Wake,
    challenges: super::acme::Challenges,
}

/// What the router shares with the rest of the daemon.
pub struct RouterParts {
    pub table: RouteTable,
    pub in_flight: Arc<InFlight>,
    pub wake: Wake,
    pub challenges: super::acme::Challenges,
    /// The socket of the `runtime::netns` helper.
    pub connector_socket: std::path::PathBuf,
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
            log: RequestLog::start(root),
            request_ids: Arc::default(),
            wake: parts.wake,
            challenges: parts.challenges,
        })
    }
}
