//! Connections out: TCP, then TLS through tokio-rustls when asked, with
//! time limits that hold while an exchange is under way and not while a
//! kept-alive connection waits for its next one.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::{Error, Reach};

/// How long each step of an exchange may wait.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// The TCP connection to each of the host's addresses in turn.
    pub connect: Duration,
    /// A read that waits this long fails, while an exchange (a TLS
    /// handshake, a request and its answer) is under way; bytes going out
    /// count as the peer being there.
    pub read: Option<Duration>,
    /// A write that waits this long fails (the peer takes nothing).
    pub write: Option<Duration>,
}

impl Timeouts {
    /// Log drains and maintenance pages: a peer that stops reading or
    /// answering must not hold the caller long.
    pub const BRIEF: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        read: Some(Duration::from_secs(5)),
        write: Some(Duration::from_secs(2)),
    };
}

/// Whether an exchange is under way on a connection, which is when its
/// reads and writes are timed.
#[derive(Clone, Default)]
pub(super) struct Busy(Arc<AtomicBool>);

impl Busy {
    /// Marks the connection busy until the guard is dropped.
    pub(super) fn during(&self) -> BusyGuard {
        self.0.store(true, Ordering::Relaxed);
        BusyGuard(self.0.clone())
    }

    fn is_busy(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub(super) struct BusyGuard(Arc<AtomicBool>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// A connection in the clear or over TLS.
pub struct Stream {
    inner: Inner,
    busy: Busy,
}

enum Inner {
    Plain(Watched),
    Tls(Box<tokio_rustls::client::TlsStream<Watched>>),
}

/// Connects to `host`, over TLS checked against `tls` when `secure`, at
/// one of the addresses it resolves to, unless one of them is where the
/// connection may not go (`reach`): then nothing is connected. The
/// addresses checked are the ones connected to, so a name that resolves
/// elsewhere on a second lookup (DNS rebinding) leads nowhere new.
pub async fn connect(
    host: &str,
    port: u16,
    reach: Reach,
    secure: bool,
    tls: Option<&Arc<ClientConfig>>,
    timeouts: Timeouts,
) -> Result<Stream, Error> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if let Some(refused) = reach.refuses(host, &addresses) {
        return Err(Error::Refused(refused));
    }
    connect_to(&addresses, host, secure, tls, timeouts).await
}

/// Connects to the first of `addresses` (of `host`, resolved and checked
/// by the caller: `connect` does both) that answers.
pub async fn connect_to(
    addresses: &[SocketAddr],
    host: &str,
    secure: bool,
    tls: Option<&Arc<ClientConfig>>,
    timeouts: Timeouts,
) -> Result<Stream, Error> {
    let tls = match (secure, tls) {
        (false, _) => None,
        (true, Some(config)) => Some(config),
        (true, None) => return Err(Error::Other("no trusted authorities to check it".into())),
    };
    let mut last_error = None;
    for &address in addresses {
        match connect_one(address, timeouts.connect).await {
            Ok(tcp) => return Stream::over(tcp, host, tls, timeouts).await,
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::other(format!("`{host}` has no address")))
        .into())
}

async fn connect_one(address: SocketAddr, limit: Duration) -> io::Result<TcpStream> {
    tokio::time::timeout(limit, TcpStream::connect(address))
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {address} timed out after {}", seconds(limit)),
            ))
        })
}

impl Stream {
    /// A connection made elsewhere (to a dyno, by the dyno connector).
    pub fn plain(tcp: std::net::TcpStream, timeouts: Timeouts) -> io::Result<Stream> {
        tcp.set_nonblocking(true)?;
        let busy = Busy::default();
        Ok(Stream {
            inner: Inner::Plain(Watched::new(TcpStream::from_std(tcp)?, &busy, timeouts)),
            busy,
        })
    }

    async fn over(
        tcp: TcpStream,
        host: &str,
        tls: Option<&Arc<ClientConfig>>,
        timeouts: Timeouts,
    ) -> Result<Stream, Error> {
        let busy = Busy::default();
        let watched = Watched::new(tcp, &busy, timeouts);
        let Some(config) = tls else {
            return Ok(Stream {
                inner: Inner::Plain(watched),
                busy,
            });
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| Error::Other(format!("`{host}` is not a TLS server name")))?;
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let handshake = {
            let _busy = busy.during();
            connector.connect(name, watched).await?
        };
        Ok(Stream {
            inner: Inner::Tls(Box::new(handshake)),
            busy,
        })
    }

    pub(super) fn busy(&self) -> Busy {
        self.busy.clone()
    }

    /// Writes all of `bytes` (a syslog drain's frames), each write within
    /// the write time limit.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let _busy = self.busy.during();
        self.write_all(bytes).await?;
        self.flush().await?;
        Ok(())
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Inner::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().inner {
            Inner::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Inner::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Inner::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Inner::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// A TCP stream whose reads and writes fail when they wait past their
/// limits while the connection is busy: what a blocking socket's read and
/// write timeouts did, without timing a kept-alive connection at rest
/// (whose reads wait for its close all along).
struct Watched {
    tcp: TcpStream,
    busy: Busy,
    timeouts: Timeouts,
    read_deadline: Option<Pin<Box<Sleep>>>,
    write_deadline: Option<Pin<Box<Sleep>>>,
}

impl Watched {
    fn new(tcp: TcpStream, busy: &Busy, timeouts: Timeouts) -> Watched {
        Watched {
            tcp,
            busy: busy.clone(),
            timeouts,
            read_deadline: None,
            write_deadline: None,
        }
    }
}

/// `Pending`, or the error of a wait past `limit` while `busy`.
fn waited_too_long<T>(
    deadline: &mut Option<Pin<Box<Sleep>>>,
    limit: Option<Duration>,
    busy: &Busy,
    cx: &mut Context<'_>,
    what: &str,
) -> Poll<io::Result<T>> {
    let Some(limit) = limit.filter(|_| busy.is_busy()) else {
        *deadline = None;
        return Poll::Pending;
    };
    let sleep = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
    match sleep.as_mut().poll(cx) {
        Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} for {}", seconds(limit)),
        ))),
        Poll::Pending => Poll::Pending,
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Pending => waited_too_long(
                &mut this.read_deadline,
                this.timeouts.read,
                &this.busy,
                cx,
                "the server sent nothing",
            ),
            ready => {
                this.read_deadline = None;
                ready
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.tcp).poll_write(cx, buf) {
            Poll::Pending => waited_too_long(
                &mut this.write_deadline,
                this.timeouts.write,
                &this.busy,
                cx,
                "the server took nothing",
            ),
            ready => {
                this.write_deadline = None;
                // The peer takes what is sent: the wait for its answer
                // starts anew. Reset, not dropped: a read pending since
                // is polled again only when the timer wakes it.
                if let (Some(deadline), Some(limit)) = (&mut this.read_deadline, this.timeouts.read)
                {
                    deadline.as_mut().reset(tokio::time::Instant::now() + limit);
                }
                ready
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// `5 s`, `0.2 s`: as the messages around them write seconds.
pub(super) fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::net::block_on;
    use crate::net::test_server::serve;

    const SHORT: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        read: Some(Duration::from_millis(300)),
        write: Some(Duration::from_millis(300)),
    };

    #[test]
    fn a_write_the_peer_does_not_take_times_out() {
        let (sender, received) = std::sync::mpsc::channel();
        let sender = std::sync::Mutex::new(sender);
        let reading = serve(move |mut stream| {
            let mut all = Vec::new();
            let _ = stream.read_to_end(&mut all);
            let _ = sender.lock().unwrap().send(all);
        });
        block_on(async {
            let mut stream =
                connect("localhost", reading, Reach::Anywhere, false, None, SHORT).await?;
            stream.send(b"<190>1 frames").await?;
            // At rest past the limits: nothing is timed.
            tokio::time::sleep(Duration::from_millis(600)).await;
            stream.send(b", more").await
        })
        .unwrap();
        assert_eq!(received.recv().unwrap(), b"<190>1 frames, more");

        let deaf = serve(|_stream| std::thread::sleep(Duration::from_secs(5)));
        let started = std::time::Instant::now();
        let error = block_on(async {
            let mut stream =
                connect("127.0.0.1", deaf, Reach::Anywhere, false, None, SHORT).await?;
            // More than the kernel's buffers on both ends hold.
            stream.send(&vec![b'x'; 64 << 20]).await
        })
        .unwrap_err();
        assert!(error.is_timeout(), "{error}");
        assert_eq!(error.to_string(), "the server took nothing for 0.3 s");
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn names_without_an_address_and_ports_without_a_listener_fail_to_connect() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = block_on(connect(
            "127.0.0.1",
            port,
            Reach::Anywhere,
            false,
            None,
            SHORT,
        ))
        .map(|_| ())
        .unwrap_err();
        assert_eq!(error.to_string(), "Connection refused (os error 111)");
        let error = block_on(connect(
            "no-such-host.invalid",
            80,
            Reach::Anywhere,
            false,
            None,
            SHORT,
        ))
        .map(|_| ())
        .unwrap_err();
        assert!(
            error.to_string().contains("failed to lookup address"),
            "{error}"
        );
    }

    #[test]
    fn a_connection_for_the_internet_does_not_reach_the_servers_network() {
        let (sender, connected) = std::sync::mpsc::channel();
        let sender = std::sync::Mutex::new(sender);
        let port = serve(move |_stream| {
            let _ = sender.lock().unwrap().send(());
        });
        for host in ["127.0.0.1", "localhost"] {
            let error = block_on(connect(host, port, Reach::Internet, false, None, SHORT))
                .map(|_| ())
                .unwrap_err();
            assert!(matches!(error, Error::Refused(_)), "{error}");
            assert!(
                error.to_string().contains("a loopback address: paas connects only to the internet for apps, \
                     unless the install allows private addresses (`paas server install --allow-private-urls yes`)"),
                "{error}"
            );
        }
        assert!(
            connected.recv_timeout(Duration::from_millis(300)).is_err(),
            "nothing connected"
        );
        block_on(connect(
            "127.0.0.1",
            port,
            Reach::Anywhere,
            false,
            None,
            SHORT,
        ))
        .unwrap();
        connected.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
