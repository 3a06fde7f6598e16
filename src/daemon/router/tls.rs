//! HTTPS: the router's TLS listener. Each client gets the certificate of
//! the app it names (SNI, by the route table), then HTTP/2 or HTTP/1.1
//! (ALPN), served by the hyper path, within the time limits of
//! `connections` (the handshake counts in the first head's time).

use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;

use super::connection_clock::{serve_watched, Clock, UnderWayBody, Watched};
use super::connections::HeadWait;
use super::request_host::host_name;
use super::table::{routes_for_host, DashboardCertificate, Domain, RouteTable};
use super::Router;
use crate::daemon::dashboard::Dashboard;
use crate::error::Result;

impl Router {
    /// Accepts TLS connections until the process stops: the certificate of
    /// the app the client names (SNI), then HTTP/2 or HTTP/1.1 (ALPN).
    pub(super) async fn serve_tls(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        let resolver = CertificateResolver {
            table: self.table.clone(),
            domain: self.domain.clone(),
            dashboard: self.dashboard_certificate.clone(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| crate::error::Error::unexpected(err.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        loop {
            let (stream, peer, slot) = self.accept(&listener).await;
            let (router, acceptor) = (self.clone(), acceptor.clone());
            tokio::spawn(async move {
                // The handshake counts in the first head's time, and has
                // less of its own: a client that never finishes it holds
                // nothing for long.
                let limits = router.limits;
                let wait = HeadWait::first_request(slot.accepted);
                let deadline = wait.deadline(&limits).min(slot.accepted + limits.handshake);
                let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream));
                let Ok(Ok(stream)) = handshake.await else {
                    return;
                };
                let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                let clock = Clock::new(limits, wait, !http2);
                let io = Watched::new(stream, clock.clone(), slot);
                let service = {
                    let clock = clock.clone();
                    service_fn(move |request| {
                        let router = router.clone();
                        let under_way = clock.request_started();
                        async move {
                            let response = router.handle(request, peer, true).await;
                            Ok::<_, hyper::Error>(
                                response.map(|body| UnderWayBody::new(body, under_way)),
                            )
                        }
                    })
                };
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
                serve_watched(connection, &clock, |connection| {
                    connection.graceful_shutdown()
                })
                .await;
            });
        }
    }
}

/// The certificate served for the dashboard's host (`name`): its own
/// while it has not expired (`certs::for_dashboard`), else none (the
/// dashboard is then plain HTTP).
pub(super) fn dashboard_certificate(
    own: &DashboardCertificate,
    name: &str,
) -> Option<Arc<CertifiedKey>> {
    let now = crate::crashes::now();
    own.load()
        .as_ref()
        .filter(|bundle| crate::certs::serves_dashboard(bundle, name, now))
        .map(|bundle| bundle.key.clone())
}

/// Picks the certificate of the app a TLS client names.
struct CertificateResolver {
    table: RouteTable,
    domain: Domain,
    dashboard: DashboardCertificate,
}

impl std::fmt::Debug for CertificateResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertificateResolver(*.{})", self.domain.load())
    }
}

impl rustls::server::ResolvesServerCert for CertificateResolver {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        let domain = self.domain.load();
        let name = host_name(&name);
        if Dashboard::serves(name, &domain) {
            return dashboard_certificate(&self.dashboard, name);
        }
        routes_for_host(&self.table.load(), &domain, name)?
            .certificate
            .clone()
    }
}
