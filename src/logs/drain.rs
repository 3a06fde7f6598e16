//! Log drains: the app's stream forwarded to a syslog server, as Heroku's
//! logplex does (RFC 5424 lines, RFC 6587 octet counting, over TCP). The
//! daemon runs one forwarder per app with drains; a drain that is down
//! drops lines, never slows the app or touches the local stream.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{LogLine, Reader};
use crate::state::AppDir;

/// A drain URL, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Drain {
    /// `syslog://host:port`
    Syslog { host: String, port: u16 },
}

/// Parses a drain URL, refusing what is not supported yet with the reason.
pub fn parse(url: &str) -> Result<Drain, String> {
    if let Some(rest) = url.strip_prefix("syslog://") {
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .ok_or_else(|| format!("`{url}` has no port: use `syslog://host:port`"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{port}` is not a port"))?;
        let valid_host = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
        if !valid_host {
            return Err(format!("`{host}` is not a host name"));
        }
        return Ok(Drain::Syslog {
            host: host.trim_matches(['[', ']']).to_string(),
            port,
        });
    }
    if url.starts_with("syslog+tls://") || url.starts_with("https://") {
        return Err(format!(
            "`{url}`: TLS drains are not supported yet; use `syslog://host:port`"
        ));
    }
    Err(format!(
        "`{url}` is not a drain URL: use `syslog://host:port`"
    ))
}

/// One line as logplex frames it: `<len> <190>1 <time> host app web.1 - <message>`.
pub fn syslog_frame(line: &LogLine) -> Vec<u8> {
    // local7.info (190) for the app, local7.notice (189) for the platform's own lines.
    let priority = if line.source == "app" { 190 } else { 189 };
    let stamp = super::heroku_timestamp(line.at);
    let message = format!(
        "<{priority}>1 {stamp} host {} {} - {}",
        line.source, line.dyno, line.message
    );
    format!("{} {message}", message.len()).into_bytes()
}

/// Forwards the app's new lines to the drains `drains` names, until it
/// names none (the app has no drains left, or is gone).
pub fn forward(app: &AppDir, drains: impl Fn() -> Vec<Drain>) {
    let mut reader = Reader::at_end(app);
    let mut connections: Vec<(Drain, Option<TcpStream>, Instant)> = Vec::new();
    loop {
        let wanted = drains();
        if wanted.is_empty() {
            return;
        }
        connections.retain(|(drain, _, _)| wanted.contains(drain));
        for drain in wanted {
            if !connections.iter().any(|(d, _, _)| *d == drain) {
                connections.push((drain, None, Instant::now()));
            }
        }
        let lines = reader.read_new();
        for (drain, stream, retry_at) in &mut connections {
            if stream.is_none() && Instant::now() >= *retry_at {
                *stream = connect(drain);
                if stream.is_none() {
                    *retry_at = Instant::now() + Duration::from_secs(5);
                }
            }
            let Some(open) = stream else { continue };
            let mut batch = Vec::new();
            for line in &lines {
                batch.extend(syslog_frame(line));
            }
            if !batch.is_empty() && open.write_all(&batch).is_err() {
                // A drain that cannot keep up loses lines, not the app's time.
                *stream = None;
                *retry_at = Instant::now() + Duration::from_secs(5);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn connect(drain: &Drain) -> Option<TcpStream> {
    let Drain::Syslog { host, port } = drain;
    let address = (host.as_str(), *port).to_socket_addrs().ok()?.next()?;
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    // A drain that stops reading must not block the forwarder for long.
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .ok()?;
    Some(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_urls() {
        assert_eq!(
            parse("syslog://logs.example.com:514").unwrap(),
            Drain::Syslog {
                host: "logs.example.com".into(),
                port: 514
            }
        );
        assert!(parse("syslog://logs.example.com")
            .unwrap_err()
            .contains("has no port"));
        assert!(parse("syslog+tls://x:6514")
            .unwrap_err()
            .contains("not supported yet"));
        assert!(parse("ftp://x").unwrap_err().contains("is not a drain URL"));
        assert!(parse("syslog://a b:1").is_err());
    }

    #[test]
    fn lines_are_framed_as_logplex_does() {
        let line = LogLine {
            at: 1_795_255_200_000_000_000,
            source: "app".into(),
            dyno: "web.1".into(),
            message: "GET / 200".into(),
        };
        let frame = String::from_utf8(syslog_frame(&line)).unwrap();
        let body = "<190>1 2026-11-21T10:00:00.000000+00:00 host app web.1 - GET / 200";
        assert_eq!(frame, format!("{} {body}", body.len()));
    }
}
