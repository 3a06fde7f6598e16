//! The router's threads: one per CPU, each with its own single-threaded
//! runtime and its own `Router` (the shared routes and log, its own
//! connections to dynos), accepting from the same listeners.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use super::connections::ConnectionSlot;
use super::dyno_pool::{DynoPool, POOL_IDLE};
use super::hyper_path::dyno_client;
use super::Router;
use crate::error::{Context, Result};

impl Router {
    /// A router for another thread: the same routes and log, its own pool.
    fn for_another_thread(&self) -> Arc<Router> {
        Arc::new(Router {
            domain: self.domain.clone(),
            port: self.port,
            https_port: self.https_port,
            table: self.table.clone(),
            client: dyno_client(&self.dyno_connector, &self.table),
            dyno_pool: DynoPool::default(),
            dyno_connector: self.dyno_connector.clone(),
            in_flight: self.in_flight.clone(),
            log: self.log.clone(),
            request_ids: self.request_ids.clone(),
            wake: self.wake.clone(),
            challenges: self.challenges.clone(),
            limits: self.limits,
            connections: self.connections.clone(),
            dashboard: self.dashboard.clone(),
            dashboard_certificate: self.dashboard_certificate.clone(),
        })
    }

    /// Serves HTTP (and HTTPS) on one thread per CPU, each with its own
    /// single-threaded runtime taking connections from the same listeners,
    /// as nginx's workers do. A connection and its dyno connections stay on
    /// one thread: on a work-stealing runtime, the wake-ups between threads
    /// cost more than the routing (measured: 33k against 64k requests/s).
    pub fn serve_on_threads(
        self: Arc<Self>,
        http: TcpListener,
        https: Option<TcpListener>,
    ) -> Result<()> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let http = http
            .into_std()
            .context(|| "taking the router's HTTP listener".into())?;
        let https = https
            .map(|l| l.into_std())
            .transpose()
            .context(|| "taking the router's HTTPS listener".into())?;
        for index in 0..threads {
            let router = if index == 0 {
                self.clone()
            } else {
                self.for_another_thread()
            };
            let http = http
                .try_clone()
                .context(|| "sharing the router's HTTP listener".into())?;
            let https = https
                .as_ref()
                .map(|l| l.try_clone())
                .transpose()
                .context(|| "sharing the router's HTTPS listener".into())?;
            std::thread::Builder::new()
                .name(format!("paas-router-{index}"))
                .spawn(move || {
                    // Connections' panics stay in their tasks; one that stops
                    // a whole thread would leave part of the router gone
                    // unseen. The service manager starts the daemon afresh.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        router.serve_on_this_thread(http, https)
                    }));
                    eprintln!(
                        "paas daemon: router thread {index} stopped; exiting to be restarted"
                    );
                    std::process::exit(1);
                })
                .context(|| "starting a router thread".into())?;
        }
        Ok(())
    }

    fn serve_on_this_thread(
        self: Arc<Self>,
        http: std::net::TcpListener,
        https: Option<std::net::TcpListener>,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for a router thread");
        runtime.block_on(async move {
            let http = TcpListener::from_std(http).expect("the HTTP listener");
            if let Some(https) = https {
                let https = TcpListener::from_std(https).expect("the HTTPS listener");
                let router = self.clone();
                tokio::spawn(async move {
                    if let Err(err) = router.serve_tls(https).await {
                        eprintln!("paas daemon: HTTPS: {}", err.report().trim_end());
                    }
                });
            }
            let router = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(POOL_IDLE).await;
                    router.dyno_pool.prune();
                }
            });
            self.serve(http).await
        });
    }

    /// Accepts connections until the process stops.
    pub(super) async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (stream, peer, slot) = self.accept(&listener).await;
            tokio::spawn(self.clone().serve_http1(stream, peer, slot));
        }
    }

    /// The next connection its client may open, counted in `connections`,
    /// with Nagle off: responses go out as written. One past a limit is
    /// shed: reset at once, nothing read (a flood costs an accept and a
    /// close per connection), with a line in the daemon's log now and then.
    /// A failed accept (too many open files) is logged so too, and waited
    /// out.
    pub(super) async fn accept(
        &self,
        listener: &TcpListener,
    ) -> (TcpStream, SocketAddr, ConnectionSlot) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => match self.connections.admit(peer.ip()) {
                    Ok(slot) => {
                        let _ = stream.set_nodelay(true);
                        return (stream, peer, slot);
                    }
                    Err(shed) => {
                        // A reset: the client knows at once, and no
                        // TIME_WAIT is kept for it here.
                        let _ = stream.set_zero_linger();
                        drop(stream);
                        let now = tokio::time::Instant::now();
                        if let Some(line) = self.connections.shed_line(peer.ip(), shed, now) {
                            eprintln!("{line}");
                        }
                    }
                },
                Err(err) => {
                    let now = tokio::time::Instant::now();
                    if let Some(line) = self.connections.accept_failure_line(&err, now) {
                        eprintln!("{line}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
