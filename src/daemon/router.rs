//! The HTTP router: `Host: <app>.<domain>` goes to one of the app's web
//! dynos, round robin. Unknown hosts get a plain 404, apps without a running
//! web dyno a 503.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::error::Result;

/// One app's backends and its round-robin position.
pub struct AppRoutes {
    backends: Vec<String>,
    next: AtomicUsize,
}

impl AppRoutes {
    pub fn new(backends: Vec<String>) -> AppRoutes {
        AppRoutes {
            backends,
            next: AtomicUsize::new(0),
        }
    }

    fn pick(&self) -> Option<&str> {
        if self.backends.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        Some(&self.backends[n % self.backends.len()])
    }
}

/// App name to routes, swapped whole on every reload so requests never lock.
pub type RouteTable = Arc<ArcSwap<HashMap<String, Arc<AppRoutes>>>>;

type Body = BoxBody<Bytes, hyper::Error>;

pub struct Router {
    domain: String,
    table: RouteTable,
    client: Client<HttpConnector, Incoming>,
}

/// Headers that describe one connection, not the request: never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Router {
    pub fn new(domain: String, table: RouteTable) -> Arc<Router> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build(connector);
        Arc::new(Router {
            domain,
            table,
            client,
        })
    }
}

impl Router {
    /// Accepts connections until the process stops.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    eprintln!("paas daemon: accept: {err}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let router = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let router = router.clone();
                    async move { Ok::<_, hyper::Error>(router.handle(request, peer).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

impl Router {
    /// The app a `Host` header names, if it is `<app>.<domain>[:port]`.
    fn app_for_host<'h>(&self, host: &'h str) -> Option<&'h str> {
        let host = host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        });
        let app = host.strip_suffix(&self.domain)?.strip_suffix('.')?;
        (!app.is_empty() && !app.contains('.')).then_some(app)
    }

    async fn handle(&self, mut request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().host())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let Some(app) = self.app_for_host(&host) else {
            return page(
                StatusCode::NOT_FOUND,
                "No such app",
                &format!("There is no app at {host}."),
            );
        };
        let table = self.table.load();
        let Some(routes) = table.get(app) else {
            return page(
                StatusCode::NOT_FOUND,
                "No such app",
                &format!("There is no app named {app}."),
            );
        };
        let Some(backend) = routes.pick() else {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Application unavailable",
                &format!("{app} has no web dyno running. Its owner can start one with `paas ps:scale web=1`."),
            );
        };
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let Ok(uri) = format!("http://{backend}{path}").parse() else {
            return page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The request path is not valid.",
            );
        };
        *request.uri_mut() = uri;
        add_forwarding_headers(&mut request, peer);
        match self.client.request(request).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                for name in HOP_BY_HOP {
                    parts.headers.remove(*name);
                }
                Response::from_parts(parts, body.boxed())
            }
            Err(_) => page(
                StatusCode::BAD_GATEWAY,
                "Application error",
                "The app did not answer. Its owner can check `paas logs`.",
            ),
        }
    }
}

fn add_forwarding_headers(request: &mut Request<Incoming>, peer: SocketAddr) {
    let headers = request.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-forwarded-for", forwarded_for);
    set("x-forwarded-proto", "http".into());
    set("x-request-start", millis.to_string());
    set("via", "1.1 paas".into());
}

fn page(status: StatusCode, title: &str, text: &str) -> Response<Body> {
    let body = format!("{title}\n\n{text}\n");
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Arc<Router> {
        Router::new(
            "localhost".into(),
            Arc::new(ArcSwap::from_pointee(HashMap::new())),
        )
    }

    #[test]
    fn host_names_the_app() {
        let router = router();
        assert_eq!(router.app_for_host("myapp.localhost:8080"), Some("myapp"));
        assert_eq!(router.app_for_host("myapp.localhost"), Some("myapp"));
        assert_eq!(router.app_for_host("localhost:8080"), None);
        assert_eq!(router.app_for_host("a.b.localhost"), None);
        assert_eq!(router.app_for_host("myapp.example.com"), None);
    }

    #[test]
    fn round_robin_visits_every_backend() {
        let routes = AppRoutes::new(vec!["a".into(), "b".into()]);
        let picks: Vec<_> = (0..4).map(|_| routes.pick().unwrap().to_string()).collect();
        assert_eq!(picks, ["a", "b", "a", "b"]);
        assert!(AppRoutes::new(vec![]).pick().is_none());
    }
}
