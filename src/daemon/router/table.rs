//! The route table: each app's web dynos (`AppRoutes`), which one takes
//! the next request (round robin, leaving out a dyno that refused, the
//! previous release's on standby), what an app without one means (`Idle`),
//! its maintenance page and certificate; and which app a host names. The
//! daemon builds the table from `routes.toml` and swaps it whole on every
//! reload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use rustls::sign::CertifiedKey;

use crate::routes::Backend;

/// How long a dyno that refused a connection is left out of the rotation.
const REFUSED_PAUSE: Duration = Duration::from_secs(5);

/// One app's backends, its round-robin position, and which backends refused
/// a connection lately.
pub struct AppRoutes {
    /// The app these routes serve (the table also has them under each of
    /// its custom domains).
    pub app: String,
    backends: Vec<Backend>,
    next: AtomicUsize,
    /// Per backend: milliseconds since `epoch` until which it is left out.
    left_out_until: Vec<AtomicU64>,
    epoch: Instant,
    /// In maintenance mode: the page every request gets instead.
    pub(super) maintenance: Option<MaintenancePage>,
    /// The app's TLS certificate, served to clients naming its hosts.
    pub(super) certificate: Option<Arc<CertifiedKey>>,
    certificate_names: Vec<String>,
    /// Whether plain HTTP requests are sent to HTTPS (with a certificate).
    https_redirect: bool,
    /// What having no backends means: the app sleeps (a request wakes it),
    /// its web dynos crashed (H10), or none are wanted (H14).
    pub(super) idle: Idle,
    /// Unix seconds of the app's latest request (for autosleep), kept
    /// across reloads of its routes.
    pub last_request: Arc<AtomicI64>,
}

/// Why an app may have no web dyno to send a request to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Idle {
    /// Scaled to zero (or never deployed): H14.
    NoneWanted,
    /// Web dynos are wanted and none is up: H10.
    Crashed,
    /// Stopped by autosleep: the request waits while one starts.
    Asleep,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub enum MaintenancePage {
    /// Ours, in plain text.
    Plain,
    /// The app's own (`MAINTENANCE_PAGE_URL`), as fetched.
    Custom(Bytes),
}

impl AppRoutes {
    pub fn new(app: &str, backends: Vec<Backend>) -> AppRoutes {
        AppRoutes {
            app: app.to_string(),
            left_out_until: backends.iter().map(|_| AtomicU64::new(0)).collect(),
            backends,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
            maintenance: None,
            certificate: None,
            certificate_names: Vec::new(),
            https_redirect: false,
            idle: Idle::NoneWanted,
            last_request: Arc::default(),
        }
    }

    /// Carries the latest request's time over from the routes these replace.
    pub fn with_last_request(mut self, last_request: Arc<AtomicI64>) -> AppRoutes {
        self.last_request = last_request;
        self
    }

    /// Notes a request now, for autosleep.
    pub(super) fn touch(&self) {
        let now = unix_now();
        if self.last_request.load(Ordering::Relaxed) != now {
            self.last_request.store(now, Ordering::Relaxed);
        }
    }

    /// What an empty list of backends means for this app.
    pub fn when_idle(mut self, idle: Idle) -> AppRoutes {
        self.idle = idle;
        self
    }

    /// The app's certificate, the names it covers, and whether plain HTTP
    /// requests for those names are redirected to HTTPS.
    pub fn with_certificate(
        mut self,
        certificate: Arc<CertifiedKey>,
        names: Vec<String>,
        redirect: bool,
    ) -> AppRoutes {
        self.certificate = Some(certificate);
        self.certificate_names = names;
        self.https_redirect = redirect;
        self
    }

    /// Whether a plain HTTP request for `host` goes to HTTPS: asked for,
    /// and the certificate covers that host (else the client could not
    /// trust the page it is sent to).
    pub(super) fn redirects_to_https(&self, host: &str) -> bool {
        self.https_redirect
            && self.certificate.is_some()
            && self
                .certificate_names
                .iter()
                .any(|name| crate::certs::covers(name, host))
    }

    pub fn in_maintenance(mut self, page: MaintenancePage) -> AppRoutes {
        self.maintenance = Some(page);
        self
    }

    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The next backend in turn, skipping those left out, unless all are.
    pub(super) fn pick(&self) -> Option<(usize, &Backend)> {
        if self.backends.is_empty() {
            return None;
        }
        let now = self.now_ms();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.backends.len();
        // Dynos on standby (the previous release's) only when every other
        // is left out: a new dyno that crashed refuses, and its requests go
        // to them.
        let next_of = |standby: bool| {
            (0..count)
                .map(|offset| (start + offset) % count)
                .find(|&i| {
                    self.backends[i].standby == standby
                        && self.left_out_until[i].load(Ordering::Relaxed) <= now
                })
        };
        let index = next_of(false)
            .or_else(|| next_of(true))
            .unwrap_or(start % count);
        Some((index, &self.backends[index]))
    }

    /// Leaves a backend that refused a connection out for a few seconds.
    pub(super) fn refused(&self, index: usize) {
        let until = self.now_ms() + REFUSED_PAUSE.as_millis() as u64;
        self.left_out_until[index].store(until, Ordering::Relaxed);
    }
}

/// The platform's domain (`domains:set-global` changes it while running).
pub type Domain = Arc<ArcSwap<String>>;

/// The dashboard's own certificate (`dashboard:certs:auto`), swapped whole
/// when the daemon gets a new one.
pub type DashboardCertificate = Arc<arc_swap::ArcSwapOption<crate::certs::Bundle>>;

/// App name to routes, swapped whole on every reload so requests never lock.
pub type RouteTable = Arc<ArcSwap<HashMap<String, Arc<AppRoutes>>>>;

/// The routes a host name (no port) leads to: a custom domain, else
/// `<app>.<domain>`.
pub(super) fn routes_for_host(
    table: &HashMap<String, Arc<AppRoutes>>,
    domain: &str,
    name: &str,
) -> Option<Arc<AppRoutes>> {
    if let Some(routes) = table.get(name).filter(|_| name.contains('.')) {
        return Some(routes.clone());
    }
    let app = name.strip_suffix(domain)?.strip_suffix('.')?;
    if app.is_empty() || app.contains('.') {
        return None;
    }
    table.get(app).cloned()
}

#[cfg(test)]
mod tests {
    use super::super::request_host::host_name;
    use super::*;

    #[test]
    fn host_names_the_app() {
        let myapp = Arc::new(AppRoutes::new("myapp", vec![]));
        let table: HashMap<String, Arc<AppRoutes>> = [
            ("myapp".to_string(), myapp.clone()),
            ("www.example.com".to_string(), myapp),
        ]
        .into();
        let app_of = |host: &str| {
            routes_for_host(&table, "localhost", host_name(host)).map(|r| r.app.clone())
        };
        assert_eq!(app_of("myapp.localhost:8080").as_deref(), Some("myapp"));
        assert_eq!(app_of("myapp.localhost").as_deref(), Some("myapp"));
        assert_eq!(app_of("myapp.localhost.").as_deref(), Some("myapp"));
        assert_eq!(app_of("myapp.localhost.:8080").as_deref(), Some("myapp"));
        assert_eq!(app_of("www.example.com.").as_deref(), Some("myapp"));
        assert_eq!(app_of("www.example.com:443").as_deref(), Some("myapp"));
        assert_eq!(app_of("localhost:8080"), None);
        assert_eq!(app_of("a.b.localhost"), None);
        assert_eq!(app_of("myapp.example.com"), None);
        assert_eq!(app_of("myapp"), None, "an app's name alone is not a host");
    }

    #[test]
    fn round_robin_visits_every_backend() {
        let backend = |dyno: &str| Backend {
            container: format!("paas-test-{dyno}"),
            dyno: dyno.into(),
            netns: None,
            standby: false,
        };
        let routes = AppRoutes::new("app", vec![backend("web.1"), backend("web.2")]);
        let picks: Vec<_> = (0..4)
            .map(|_| routes.pick().unwrap().1.dyno.clone())
            .collect();
        assert_eq!(picks, ["web.1", "web.2", "web.1", "web.2"]);
        assert!(AppRoutes::new("app", vec![]).pick().is_none());

        // A dyno that refused a connection sits out; with all out, turns resume.
        routes.refused(0);
        let picks: Vec<_> = (0..3)
            .map(|_| routes.pick().unwrap().1.dyno.clone())
            .collect();
        assert_eq!(picks, ["web.2", "web.2", "web.2"]);
        routes.refused(1);
        assert!(routes.pick().is_some());

        // The previous release's dyno on standby takes requests only while
        // the new one is left out (it refused: it crashed).
        let standby = Backend {
            standby: true,
            ..backend("web.1-old")
        };
        let routes = AppRoutes::new("app", vec![backend("web.1"), standby]);
        let picks: Vec<_> = (0..3)
            .map(|_| routes.pick().unwrap().1.dyno.clone())
            .collect();
        assert_eq!(picks, ["web.1", "web.1", "web.1"]);
        routes.refused(0);
        assert_eq!(routes.pick().unwrap().1.dyno, "web.1-old");
    }
}
