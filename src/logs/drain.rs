//! Log drains: the app's stream forwarded as Heroku's logplex does it.
//! - `syslog://host:port` and `syslog+tls://host:port`: RFC 5424 lines with
//!   RFC 6587 octet counting, over TCP or TLS.
//! - `https://[user:password@]host[:port]/path` (and `http://`): batches of
//!   the same frames POSTed as `application/logplex-1`.
//!
//! The daemon runs one forwarder thread per app with drains; a drain that
//! is down drops lines, never slows the app or touches the local stream.
//! A drain in the server's own network gets nothing unless the install
//! allows it (`net::Reach`): checked by `drains:add` (`refused_now`) and
//! on every connection the forwarder opens, where the name leads then.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header;
use rustls::ClientConfig;
use sha2::{Digest, Sha256};

use super::{LogLine, Reader};
use crate::net::{self, HttpTarget, Reach, Timeouts};
use crate::state::AppDir;

/// Frames per HTTPS post, as logplex batches them.
const FRAMES_PER_POST: usize = 500;

/// A drain URL, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Drain {
    /// `syslog://host:port`, or `syslog+tls://host:port` when `tls`.
    Syslog { host: String, port: u16, tls: bool },
    /// `https://…` (or `http://…`): logplex batches POSTed.
    Http(HttpTarget),
}

impl Drain {
    fn address(&self) -> (&str, u16, bool) {
        match self {
            Drain::Syslog { host, port, tls } => (host, *port, *tls),
            Drain::Http(target) => (&target.host, target.port, target.tls),
        }
    }

    /// A new connection to the drain, if it is where `reach` lets it go.
    async fn connect(
        &self,
        reach: Reach,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<net::Stream, net::Error> {
        let (host, port, secure) = self.address();
        net::connect(host, port, reach, secure, tls, Timeouts::BRIEF).await
    }

    /// Why `drains:add` refuses the drain: its host resolves, now, into
    /// the server's own network and `reach` does not let it go there.
    pub fn refused_now(&self, reach: Reach) -> Option<net::Refused> {
        let (host, port, _) = self.address();
        reach.refuses_now(host, port)
    }
}

const USAGE: &str = "use `syslog://host:port`, `syslog+tls://host:port` or `https://host/path`";

/// Parses a drain URL, saying what is wrong with one that is not.
pub fn parse(url: &str) -> Result<Drain, String> {
    let (scheme, _) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not a drain URL: {USAGE}"))?;
    match scheme {
        "syslog" | "syslog+tls" => {
            let tls = scheme == "syslog+tls";
            let (host, port) = net::host_and_port(url)
                .map_err(|err| format!("`{url}`: {err}: use `{scheme}://host:port`"))?;
            Ok(Drain::Syslog { host, port, tls })
        }
        "https" | "http" => Ok(Drain::Http(HttpTarget::parse(url)?)),
        _ => Err(format!("`{url}` is not a drain URL: {USAGE}")),
    }
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

/// One drain of the app and the state of its connection.
struct Outlet {
    drain: Drain,
    /// Sent with every HTTPS post, as logplex names its drains (`d.<uuid>`).
    token: String,
    /// What its connections run on, made with the first.
    runtime: Option<tokio::runtime::Runtime>,
    connection: Option<Held>,
    /// Where its next connection may go, as the install said when the
    /// last batch found none open (an open one stays until it closes).
    reach: Reach,
    retry_at: Instant,
    /// The last failure, reported once in the daemon's log, not every pass.
    failure: Option<String>,
}

/// A drain's open connection.
enum Held {
    Syslog(net::Stream),
    Http(net::Connection),
}

impl Outlet {
    fn new(app: &AppDir, drain: Drain) -> Outlet {
        let digest = Sha256::digest(format!("{}\n{drain:?}", app.name));
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Outlet {
            token: format!(
                "d.{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            ),
            drain,
            runtime: None,
            connection: None,
            reach: Reach::Internet,
            retry_at: Instant::now(),
            failure: None,
        }
    }

    /// Sends the lines, connecting first when needed, where `reach` (the
    /// install's setting, read only then) lets it. Lines sent while the
    /// drain is down are lost, as logplex loses them.
    fn send(
        &mut self,
        app: &AppDir,
        lines: &[LogLine],
        tls: Option<&Arc<ClientConfig>>,
        reach: impl FnOnce() -> Reach,
    ) {
        if self.connection.is_none() {
            if Instant::now() < self.retry_at {
                return;
            }
            self.reach = reach();
        }
        let result = match self.runtime.take().map_or_else(net::runtime, Ok) {
            Ok(runtime) => {
                let result = runtime.block_on(self.deliver(lines, tls));
                self.runtime = Some(runtime);
                result
            }
            Err(err) => Err(err),
        };
        match result {
            Ok(()) => {
                if self.failure.take().is_some() {
                    eprintln!(
                        "paas daemon: the drain {} of {} works again",
                        describe(&self.drain),
                        app.name
                    );
                    super::platform(
                        app,
                        "logplex",
                        &format!("the drain {} works again", describe(&self.drain)),
                    );
                }
            }
            Err(err) => {
                self.connection = None;
                self.retry_at = Instant::now() + Duration::from_secs(5);
                let message = err.to_string();
                if self.failure.as_deref() != Some(message.as_str()) {
                    eprintln!(
                        "paas daemon: the drain {} of {} is losing lines: {message}",
                        describe(&self.drain),
                        app.name
                    );
                    // Where the app's people look (`paas logs`), once per
                    // new reason, as Heroku's logplex says a drain's errors.
                    super::platform(
                        app,
                        "logplex",
                        &format!(
                            "the drain {} is losing lines: {message}",
                            describe(&self.drain)
                        ),
                    );
                    self.failure = Some(message);
                }
            }
        }
    }

    /// Writes the lines as syslog frames, or posts them in logplex
    /// batches, on the open connection or a new one.
    async fn deliver(
        &mut self,
        lines: &[LogLine],
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<(), net::Error> {
        let target = match &self.drain {
            Drain::Syslog { .. } => return self.write_frames(lines, tls).await,
            Drain::Http(target) => target.clone(),
        };
        let token = self.token.clone();
        for chunk in lines.chunks(FRAMES_PER_POST) {
            let post = || logplex_post(&target, &token, chunk);
            let reused = self.connection.is_some();
            let status = match self.post(post()?, tls).await {
                // A kept-alive connection the drain has since closed: once
                // more on a new one. Not after a timeout: the drain may
                // have the post already, and must not get it twice.
                Err(err) if reused && err.closed_before_answering() => {
                    self.post(post()?, tls).await?
                }
                other => other?,
            };
            if !(200..300).contains(&status) {
                return Err(net::Error::Other(format!(
                    "it answered a post with status {status}"
                )));
            }
        }
        Ok(())
    }

    async fn write_frames(
        &mut self,
        lines: &[LogLine],
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<(), net::Error> {
        let mut batch = Vec::new();
        for line in lines {
            batch.extend(syslog_frame(line));
        }
        let mut stream = match self.connection.take() {
            Some(Held::Syslog(open)) => open,
            _ => self.drain.connect(self.reach, tls).await?,
        };
        stream.send(&batch).await?;
        self.connection = Some(Held::Syslog(stream));
        Ok(())
    }

    /// Posts on the open connection, or a new one, and keeps it open when
    /// the drain says it can carry more; a failure closes it.
    async fn post(
        &mut self,
        post: hyper::Request<Bytes>,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<u16, net::Error> {
        let mut connection = match self.connection.take() {
            Some(Held::Http(open)) => open,
            _ => net::Connection::open(self.drain.connect(self.reach, tls).await?).await?,
        };
        let response = connection.send(post, 64 * 1024).await?;
        if response.keep_alive {
            self.connection = Some(Held::Http(connection));
        }
        Ok(response.status())
    }
}

fn describe(drain: &Drain) -> String {
    match drain {
        Drain::Syslog { host, port, tls } => {
            let scheme = if *tls { "syslog+tls" } else { "syslog" };
            format!("{scheme}://{host}:{port}")
        }
        Drain::Http(target) => {
            let scheme = if target.tls { "https" } else { "http" };
            format!("{scheme}://{}{}", target.host_header(), target.path)
        }
    }
}

/// A logplex POST: the headers Heroku's drains send, then the frames.
fn logplex_post(
    target: &HttpTarget,
    token: &str,
    lines: &[LogLine],
) -> Result<hyper::Request<Bytes>, net::Error> {
    let mut body = Vec::new();
    for line in lines {
        body.extend(syslog_frame(line));
    }
    let frame_id = Sha256::digest(&body);
    let frame_id: String = frame_id[..16].iter().map(|b| format!("{b:02x}")).collect();
    Ok(net::request(hyper::Method::POST, target, "paas-logplex")
        .header(header::CONTENT_TYPE, "application/logplex-1")
        .header(header::CONTENT_LENGTH, body.len())
        .header("Logplex-Msg-Count", lines.len())
        .header("Logplex-Frame-Id", frame_id)
        .header("Logplex-Drain-Token", token)
        .body(body.into())?)
}

/// Forwards the app's new lines to the drains `drains` names, until it
/// names none (the app has no drains left, or is gone). `reach` says
/// where the install lets drains be (`Settings::url_reach`), asked when
/// a drain is to be connected.
pub fn forward(app: &AppDir, drains: impl Fn() -> Vec<Drain>, reach: impl Fn() -> Reach) {
    let tls = match crate::tls::client_config() {
        Ok(config) => Some(config),
        Err(err) => {
            eprintln!(
                "paas daemon: TLS drains of {} cannot connect: {err}",
                app.name
            );
            None
        }
    };
    let mut reader = Reader::at_end(app);
    let mut outlets: Vec<Outlet> = Vec::new();
    loop {
        let wanted = drains();
        if wanted.is_empty() {
            return;
        }
        outlets.retain(|outlet| wanted.contains(&outlet.drain));
        for drain in wanted {
            if !outlets.iter().any(|outlet| outlet.drain == drain) {
                outlets.push(Outlet::new(app, drain));
            }
        }
        let lines = reader.read_new();
        if !lines.is_empty() {
            for outlet in &mut outlets {
                outlet.send(app, &lines, tls.as_ref(), &reach);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Write};

    #[test]
    fn drain_urls() {
        assert_eq!(
            parse("syslog://logs.example.com:514").unwrap(),
            Drain::Syslog {
                host: "logs.example.com".into(),
                port: 514,
                tls: false,
            }
        );
        assert_eq!(
            parse("syslog+tls://[::1]:6514").unwrap(),
            Drain::Syslog {
                host: "::1".into(),
                port: 6514,
                tls: true,
            }
        );
        assert_eq!(
            parse("https://user:s3cret@logs.example.com/drain?app=x").unwrap(),
            Drain::Http(HttpTarget {
                host: "logs.example.com".into(),
                port: 443,
                tls: true,
                path: "/drain?app=x".into(),
                authorization: Some("Basic dXNlcjpzM2NyZXQ=".into()),
            })
        );
        assert_eq!(
            parse("http://127.0.0.1:8080").unwrap(),
            Drain::Http(HttpTarget {
                host: "127.0.0.1".into(),
                port: 8080,
                tls: false,
                path: "/".into(),
                authorization: None,
            })
        );
        assert!(parse("syslog://logs.example.com")
            .unwrap_err()
            .contains("has no port"));
        assert!(parse("syslog+tls://x:0")
            .unwrap_err()
            .contains("is not a port"));
        assert!(parse("ftp://x").unwrap_err().contains("is not a drain URL"));
        assert!(parse("logs.example.com")
            .unwrap_err()
            .contains("is not a drain URL"));
        assert!(parse("syslog://a b:1").is_err());
        assert!(parse("https://x/a b").is_err());
    }

    /// A plain-HTTP drain that answers each post, keeping the connection
    /// open for `keep` posts, and hands back what it read.
    fn http_drain(answers: usize, keep: usize) -> (u16, std::sync::mpsc::Receiver<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut answered = 0;
            for stream in listener.incoming() {
                let mut reader = BufReader::new(stream.unwrap());
                for _ in 0..keep {
                    let Some(post) = crate::net::test_server::read_request(&mut reader) else {
                        break;
                    };
                    sender.send(post).unwrap();
                    reader
                        .get_mut()
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .unwrap();
                    answered += 1;
                    if answered == answers {
                        return;
                    }
                }
            }
        });
        (port, receiver)
    }

    fn line(message: &str) -> LogLine {
        LogLine {
            at: 1_795_255_200_000_000_000,
            source: "app".into(),
            dyno: "web.1".into(),
            message: message.into(),
        }
    }

    #[test]
    fn https_drains_get_logplex_posts_and_survive_a_closed_connection() {
        // Each connection carries one post, then the drain closes it: the
        // next post finds it closed and goes again on a new one.
        let (port, posts) = http_drain(3, 1);
        let app = AppDir {
            name: crate::state::AppName::parse("drained").unwrap(),
            path: "/nonexistent".into(),
        };
        let drain = parse(&format!("http://u:p@127.0.0.1:{port}/logs")).unwrap();
        let mut outlet = Outlet::new(&app, drain);
        for message in ["one", "two", "three"] {
            outlet.send(&app, &[line(message), line("more")], None, || {
                Reach::Anywhere
            });
            assert!(outlet.failure.is_none(), "{:?}", outlet.failure);
            let post = posts.recv_timeout(Duration::from_secs(5)).unwrap();
            assert!(post.starts_with("POST /logs HTTP/1.1\r\n"), "{post}");
            for header in [
                "Content-Type: application/logplex-1",
                "Logplex-Msg-Count: 2",
                "Logplex-Drain-Token: d.",
                "Authorization: Basic dTpw",
                &format!("Host: 127.0.0.1:{port}"),
            ] {
                assert!(post.contains(header), "{header} in {post}");
            }
            let frame = String::from_utf8(syslog_frame(&line(message))).unwrap();
            assert!(post.contains(&frame), "{post}");
        }
    }

    #[test]
    fn a_drain_in_the_servers_network_gets_nothing_unless_the_install_allows_it() {
        let (port, posts) = http_drain(1, 1);
        let dir = tempfile::tempdir().unwrap();
        let app = AppDir {
            name: crate::state::AppName::parse("drained").unwrap(),
            path: dir.path().into(),
        };
        // What `paas logs` of the app shows.
        let app_log = || {
            let mut text = String::new();
            for entry in std::fs::read_dir(app.logs_dir()).into_iter().flatten() {
                text += &std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
            }
            text
        };
        // A name, as DNS may send one to loopback after the drain was added.
        let drain = parse(&format!("http://localhost:{port}/logs")).unwrap();
        let refused = drain.refused_now(Reach::Internet).unwrap();
        assert!(
            refused.to_string().starts_with("`localhost` resolves to "),
            "{refused}"
        );
        assert_eq!(drain.refused_now(Reach::Anywhere), None);
        let syslog = parse("syslog://127.0.0.1:514").unwrap();
        assert_eq!(
            syslog.refused_now(Reach::Internet).unwrap().to_string(),
            "127.0.0.1 is a loopback address"
        );

        let mut outlet = Outlet::new(&app, drain);
        outlet.send(&app, &[line("secret")], None, || Reach::Internet);
        let failure = outlet.failure.clone().unwrap_or_default();
        assert!(
            failure.contains("a loopback address: paas connects only to the internet for apps, \
                 unless the install allows private addresses (`paas server install --allow-private-urls yes`)"),
            "{failure}"
        );
        assert!(
            posts.recv_timeout(Duration::from_millis(300)).is_err(),
            "nothing posted"
        );
        let said = app_log();
        assert!(
            said.contains(&format!(
                "the drain http://localhost:{port}/logs is losing lines: "
            )),
            "{said}"
        );
        // The install's setting is asked again at the next connection.
        outlet.retry_at = Instant::now();
        outlet.send(&app, &[line("allowed")], None, || Reach::Anywhere);
        assert!(outlet.failure.is_none(), "{:?}", outlet.failure);
        let post = posts.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            post.contains("allowed") && !post.contains("secret"),
            "{post}"
        );
        assert!(app_log().contains("works again"), "{}", app_log());
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
