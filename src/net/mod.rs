//! Outgoing connections from the daemon and commands: TCP or TLS streams,
//! HTTP URLs (parsed in `target.rs`), and one HTTP/1.1 exchange at a time
//! (log drains' posts, a maintenance page's fetch). Small on purpose: no
//! redirects, no compression.

mod target;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

pub use target::{host_and_port, HttpTarget};

/// A connection in the clear or over TLS.
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Connection::Plain(stream) => stream.read(buf),
            Connection::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Connection::Plain(stream) => stream.write(buf),
            Connection::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Connection::Plain(stream) => stream.flush(),
            Connection::Tls(stream) => stream.flush(),
        }
    }
}

/// Connects, over TLS checked against `tls` when `secure`. Short timeouts:
/// a peer that stops reading or answering must not hold the caller long.
pub fn connect(
    host: &str,
    port: u16,
    secure: bool,
    tls: Option<&Arc<ClientConfig>>,
) -> std::io::Result<Connection> {
    let address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("`{host}` has no address")))?;
    let mut socket = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    socket.set_write_timeout(Some(Duration::from_secs(2)))?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    if !secure {
        return Ok(Connection::Plain(socket));
    }
    let config = tls.ok_or_else(|| std::io::Error::other("no trusted authorities to check it"))?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| std::io::Error::other(format!("`{host}` is not a TLS server name")))?;
    let mut session = ClientConnection::new(config.clone(), name).map_err(std::io::Error::other)?;
    while session.is_handshaking() {
        session.complete_io(&mut socket)?;
    }
    Ok(Connection::Tls(Box::new(StreamOwned::new(session, socket))))
}

/// What came back from one exchange.
pub struct Response {
    pub status: u16,
    /// Whether the connection can carry another request.
    pub keep_alive: bool,
    pub body: Vec<u8>,
}

/// Sends one request and reads its response, keeping at most `body_limit`
/// bytes of the body.
pub fn exchange(
    connection: &mut Connection,
    request: &[u8],
    body_limit: u64,
) -> std::io::Result<Response> {
    connection.write_all(request)?;
    connection.flush()?;
    let mut reader = BufReader::new(connection);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    // HTTP/1.0 closes after each response unless it says otherwise.
    let mut closes = status_line.starts_with("HTTP/1.0");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("the server did not answer in HTTP"))?;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Err(std::io::Error::other("the server closed the connection"));
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok(),
            "connection" => closes = !value.eq_ignore_ascii_case("keep-alive"),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let mut body = Vec::new();
    match length {
        _ if no_body => {}
        _ if chunked => body = read_chunked(&mut reader, body_limit)?,
        Some(length) => {
            (&mut reader)
                .take(length.min(body_limit))
                .read_to_end(&mut body)?;
            // Past the limit: read and dropped, so the connection stays usable.
            std::io::copy(
                &mut (&mut reader).take(length.saturating_sub(body_limit)),
                &mut std::io::sink(),
            )?;
        }
        None => {
            // The body ends when the connection does.
            (&mut reader).take(body_limit).read_to_end(&mut body)?;
            closes = true;
        }
    }
    Ok(Response {
        status,
        keep_alive: !closes,
        body,
    })
}

/// A `Transfer-Encoding: chunked` body, up to `limit` bytes kept.
fn read_chunked(reader: &mut impl BufRead, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size = size_line.trim().split(';').next().unwrap_or_default();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| std::io::Error::other("a chunked body with a bad chunk size"))?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let room = limit.saturating_sub(body.len() as u64);
        let kept = (&mut *reader).take(size.min(room)).read_to_end(&mut body)? as u64;
        let dropped = std::io::copy(
            &mut (&mut *reader).take(size - size.min(room)),
            &mut std::io::sink(),
        )?;
        if kept + dropped != size {
            return Err(std::io::Error::other("a chunked body cut short"));
        }
        let mut end = String::new();
        reader.read_line(&mut end)?;
    }
}

/// GETs a URL on a new connection: (status, body of at most `body_limit` bytes).
pub fn get(url: &str, body_limit: u64) -> Result<(u16, Vec<u8>), String> {
    let target = HttpTarget::parse(url)?;
    let tls = if target.tls {
        Some(crate::tls::client_config()?)
    } else {
        None
    };
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: paas\r\nConnection: close\r\n",
        target.path,
        target.host_header()
    );
    if let Some(authorization) = &target.authorization {
        request.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    let fetch = || -> std::io::Result<Response> {
        let mut connection = connect(&target.host, target.port, target.tls, tls.as_ref())?;
        exchange(&mut connection, request.as_bytes(), body_limit)
    };
    let response = fetch().map_err(|err| format!("fetching `{url}`: {err}"))?;
    Ok((response.status, response.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined_and_capped() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
        let mut reader = std::io::BufReader::new(&wire[..]);
        assert_eq!(read_chunked(&mut reader, 1024).unwrap(), b"hello, world");
        let mut reader = std::io::BufReader::new(&wire[..]);
        assert_eq!(read_chunked(&mut reader, 7).unwrap(), b"hello, ");
        let mut cut = std::io::BufReader::new(&b"5\r\nhel"[..]);
        assert!(read_chunked(&mut cut, 1024).is_err());
    }
}
