//! Outgoing connections, the one HTTP client of paas (#18 point 5): URLs
//! parsed by the `url` crate, TCP and TLS (tokio-rustls, trusting what
//! `tls` says) with time limits, and HTTP/1.1 through hyper's client
//! connection. Log drains post and write through it, `maintenance:on`
//! fetches a page, `pg:backups:restore URL` downloads a dump, webhooks are
//! posted, app.json's HTTP checks ask a dyno and ACME talks to its CA.
//! Every connection to a host says where it may lead (`Reach`): a URL an
//! app's people gave does not reach the server's own network unless the
//! install allows it.
//!
//! Small on purpose: no pool (a caller that keeps a connection alive holds
//! it), no compression, redirects only where a caller follows them. The
//! core is async; `block_on` serves callers that are not (commands, check
//! and drain threads) on a runtime of their own.
//!
//! - `target.rs`: URLs, parsed.
//! - `addresses.rs`: which addresses are the server's own network, and
//!   where a connection may go (`Reach`).
//! - `stream.rs`: connecting, and the time limits on reads and writes.
//! - `exchange.rs`: requests and answers.

mod addresses;
mod exchange;
mod stream;
mod target;

use std::io;

pub use addresses::{own_addresses, private_kind, Reach, Refused, ALLOW_PRIVATE};
pub use exchange::{download, get, request, within, Connection, Response};
pub use stream::{connect, connect_to, Stream, Timeouts};
pub use target::{host_and_port, HttpTarget};

/// Why an outgoing exchange failed, in words for a log line or a message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting, reading or writing failed, or took too long: the
    /// system's words, or TLS's (`invalid peer certificate: …`).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The connection closed before an answer came.
    #[error("the server closed the connection")]
    Closed,
    /// The connection closed in the middle of an answer.
    #[error("the server closed the connection before the end of its answer")]
    CutShort,
    #[error("the server did not answer in HTTP ({0})")]
    NotHttp(String),
    /// The host is in the server's own network, and the connection was
    /// for the internet only (`Reach::Internet`): nothing was sent.
    #[error("{0}: paas connects only to the internet for apps, unless the install allows private addresses (`{ALLOW_PRIVATE}`)")]
    Refused(Refused),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// Whether a time limit ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(err) if matches!(err.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock))
    }

    /// Whether the connection was closed under the request, before any
    /// answer: a kept-alive connection the server has since closed.
    pub fn closed_before_answering(&self) -> bool {
        use io::ErrorKind::*;
        match self {
            Error::Closed => true,
            Error::Io(err) => matches!(
                err.kind(),
                BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof | NotConnected
            ),
            _ => false,
        }
    }
}

impl From<hyper::Error> for Error {
    fn from(err: hyper::Error) -> Error {
        if err.is_parse() {
            return Error::NotHttp(err.to_string());
        }
        if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
            return Error::Closed;
        }
        let Some(cause) = std::error::Error::source(&err) else {
            return Error::Other(err.to_string());
        };
        match cause.downcast_ref::<io::Error>() {
            // The same kind and words: hyper lends its cause, never gives it.
            Some(io) => Error::Io(io::Error::new(io.kind(), io.to_string())),
            None => Error::Other(format!("{err}: {cause}")),
        }
    }
}

impl From<hyper::http::Error> for Error {
    fn from(err: hyper::http::Error) -> Error {
        Error::Other(format!("the request cannot be made: {err}"))
    }
}

/// Runs an exchange on a runtime of its own, for a caller that is not
/// async (never from inside an async task).
pub fn block_on<T>(
    exchange: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    runtime()?.block_on(exchange)
}

/// A runtime for a caller that is not async and keeps a connection
/// between exchanges (a drain's thread): connections belong to it.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Loopback servers for the tests of this module's files and its users'.
#[cfg(test)]
pub(crate) mod test_server {
    use std::io::{BufRead, BufReader, Read};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;

    /// Listens on 127.0.0.1 and hands each connection to `handle` on a
    /// thread of its own; the port.
    pub fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = Arc::new(handle);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let (handle, stream) = (handle.clone(), stream.unwrap());
                std::thread::spawn(move || handle(stream));
            }
        });
        port
    }

    /// One request's head and body (by its `Content-Length`), or None at
    /// the connection's end.
    pub fn read_request(reader: &mut BufReader<impl Read>) -> Option<String> {
        let mut request = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            request.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let length: usize = request
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.parse().unwrap());
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        request.push_str(&String::from_utf8_lossy(&body));
        Some(request)
    }
}
