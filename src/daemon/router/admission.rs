//! Where a request goes, the same on both router paths: answered by the
//! router itself (an ACME challenge, an unknown host, an HTTPS redirect,
//! maintenance, no dyno to take it) or forwarded to one of the app's dynos,
//! with its log entry begun; a sleeping app is woken first. And, when a
//! dyno refuses, which one to try next.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;

use super::pages::{page, redirect, Answer};
use super::request_host::host_name;
use super::request_log::RequestEntry;
use super::table::{routes_for_host, AppRoutes, Idle, MaintenancePage};
use super::Router;
use crate::routes::Backend;

impl Router {
    /// The answer to an ACME CA's HTTP-01 challenge, for any host, while
    /// an order waits for it.
    fn acme_answer(&self, path: &str) -> Option<Answer> {
        let path_only = path.split('?').next().unwrap_or_default();
        let token = path_only.strip_prefix("/.well-known/acme-challenge/")?;
        let key_authorization = self
            .challenges
            .lock()
            .expect("not poisoned")
            .get(token)
            .cloned()?;
        Some(Answer::new(StatusCode::OK, Bytes::from(key_authorization)))
    }

    /// A redirect to the same path over HTTPS, where the router has an
    /// HTTPS port.
    fn to_https(&self, name: &str, path: &str) -> Option<Answer> {
        let port = match self.https_port? {
            443 => String::new(),
            port => format!(":{port}"),
        };
        Some(redirect(&format!("https://{name}{port}{path}")))
    }

    /// What the router answers itself for the dashboard's host, before the
    /// dashboard: an ACME challenge (the dashboard's own certificate is
    /// validated through it), and a plain HTTP request sent to HTTPS while
    /// its own certificate serves (the session cookie then never travels
    /// in clear).
    pub(super) fn dashboard_admission(
        &self,
        host: &str,
        path: &str,
        secure: bool,
    ) -> Option<Answer> {
        if let Some(answer) = self.acme_answer(path) {
            return Some(answer);
        }
        let name = host_name(host);
        let certified = super::tls::dashboard_certificate(&self.dashboard_certificate, name);
        // (`OPTIONS *` names no page to send anywhere.)
        match (secure, certified, path.starts_with('/')) {
            (false, Some(_), true) => self.to_https(name, path).map(|answer| {
                // A session cookie of plain HTTP travelled in clear: the
                // browser forgets it (the session is refused over HTTPS).
                answer.with("set-cookie", "paas_session=; Max-Age=0; Path=/; HttpOnly")
            }),
            _ => None,
        }
    }
}

/// Wakes a sleeping app: starts its web dynos (once, however many requests
/// ask) and reloads its routes.
pub type Wake = Arc<dyn Fn(&str) + Send + Sync>;

/// How long a request waits for a sleeping app's dyno (Heroku's boot
/// timeout is 75 s; ours, R10's, is 60): past it, H20.
const WAKE_TIMEOUT: Duration = crate::converge::BOOT_TIMEOUT;

/// What the router needs of a request to decide where it goes; each path
/// reads it from its own parse of the request.
pub(super) struct RequestHead<'a> {
    pub(super) method: &'a str,
    /// With the query.
    pub(super) path: &'a str,
    /// The `Host` header, lowercase, with its port if any.
    pub(super) host: &'a str,
    /// The client's `X-Request-Id`, if it sent one.
    pub(super) request_id: Option<&'a str>,
}

/// What `Router::admit` decided, for the path to carry out.
// Made once per request and taken apart at once: no box needed.
#[allow(clippy::large_enum_variant)]
pub(super) enum Admission {
    /// The router answers the request itself.
    Answer(Answer),
    Forward(Forward),
}

/// To this dyno of the app; the log entry so far.
pub(super) struct Forward {
    /// The app's routes the request was admitted by (a refusal is noted
    /// in them).
    pub(super) routes: Arc<AppRoutes>,
    /// The backend's place in `routes`.
    pub(super) index: usize,
    pub(super) backend: Backend,
    pub(super) entry: RequestEntry,
}

impl Router {
    /// Where a request goes: answered by the router itself (ACME, unknown
    /// host, HTTPS redirect, maintenance, no dyno), or to which dyno, with
    /// its log entry begun. A sleeping app is woken first.
    pub(super) async fn admit(
        &self,
        head: &RequestHead<'_>,
        peer: SocketAddr,
        secure: bool,
    ) -> Admission {
        if let Some(answer) = self.acme_answer(head.path) {
            return Admission::Answer(answer);
        }
        let name = host_name(head.host);
        let Some(mut routes) = routes_for_host(&self.table.load(), &self.domain.load(), name)
        else {
            return Admission::Answer(page(
                StatusCode::NOT_FOUND,
                "No such app",
                &format!("There is no app at {}.", head.host),
            ));
        };
        routes.touch();
        if let (false, true, Some(answer)) = (
            secure,
            routes.redirects_to_https(name),
            self.to_https(name, head.path),
        ) {
            return Admission::Answer(answer);
        }
        let app = routes.app.clone();
        let mut entry = RequestEntry {
            app: app.clone(),
            method: head.method.to_string(),
            path: head.path.to_string(),
            host: head.host.to_string(),
            request_id: self.request_ids.for_header(head.request_id),
            forwarded_for: peer.ip(),
            dyno: None,
            connect: None,
            status: 0,
            bytes: None,
            service: Duration::ZERO,
            error: None,
            cause: None,
        };
        if let Some(maintenance) = &routes.maintenance {
            entry.error = Some(("H80", "Maintenance mode"));
            entry.status = 503;
            self.log.send(entry);
            return Admission::Answer(match maintenance {
                MaintenancePage::Plain => page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Offline for maintenance",
                    &format!("{app} is undergoing maintenance right now. Please check back soon."),
                ),
                MaintenancePage::Custom(html) => {
                    Answer::new(StatusCode::SERVICE_UNAVAILABLE, html.clone())
                        .with("content-type", "text/html; charset=utf-8")
                        .with("retry-after", "60")
                }
            });
        }
        if routes.backends().is_empty() && routes.idle == Idle::Asleep {
            // Held while a dyno starts, then served as if it had been up.
            routes = self.woken(&app).await.unwrap_or(routes);
        }
        let Some((index, backend)) = routes.pick().map(|(i, b)| (i, b.clone())) else {
            entry.status = 503;
            let (error, text) = match routes.idle {
                Idle::NoneWanted => (
                    ("H14", "No web processes running"),
                    format!("{app} has no web dyno running. Its owner can start one with `paas ps:scale web=1`."),
                ),
                Idle::Crashed => (
                    ("H10", "App crashed"),
                    format!("{app} crashed. Its owner can check `paas logs` and `paas ps`."),
                ),
                Idle::Asleep => (
                    ("H20", "App boot timeout"),
                    format!("{app} was asleep and did not start within {} seconds. Its owner can check `paas logs`.", WAKE_TIMEOUT.as_secs()),
                ),
            };
            entry.error = Some(error);
            self.log.send(entry);
            return Admission::Answer(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Application error",
                &text,
            ));
        };
        Admission::Forward(Forward {
            routes,
            index,
            backend,
            entry,
        })
    }

    /// After a dyno refused a connection: leaves it out for a while and, if
    /// the request can be sent again, the next dyno to try (by the latest
    /// routes: a deploy may have moved on since the request read them).
    pub(super) fn after_refusal(
        &self,
        routes: &mut Arc<AppRoutes>,
        index: usize,
        app: &str,
        retryable: bool,
        attempts: usize,
    ) -> Option<(usize, Backend)> {
        routes.refused(index);
        if let Some(latest) = self.table.load().get(app) {
            if !Arc::ptr_eq(latest, routes) {
                *routes = latest.clone();
            }
        }
        if !retryable || attempts > routes.backends().len() {
            return None;
        }
        routes.pick().map(|(i, b)| (i, b.clone()))
    }

    /// Wakes a sleeping app and waits for its routes to have a backend.
    async fn woken(&self, app: &str) -> Option<Arc<AppRoutes>> {
        (self.wake)(app);
        let deadline = Instant::now() + WAKE_TIMEOUT;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(routes) = self.table.load().get(app) {
                // Up, or the wake is over without a dyno (crashed, scaled
                // to zero): answered now either way.
                if !routes.backends().is_empty() || routes.idle != Idle::Asleep {
                    return Some(routes.clone());
                }
            }
        }
        None
    }
}
