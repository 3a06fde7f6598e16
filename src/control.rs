//! The daemon's control protocol: what commands ask the daemon on its
//! control socket (`run/control.sock`), and what it answers. Both sides use
//! the types here: commands and workflows send a `Request` (the client
//! functions below), the daemon's `control_loop` decodes it, matches on it
//! and sends back an `Answer`.
//!
//! On the wire each request is one line, a word and its arguments (`reload
//! myapp`, `drain <container>…`), and each answer one line: `ok`, `ok
//! <what>` or `error <why>`. The lines are byte for byte those of earlier
//! paas versions, and must stay so: during an upgrade a new `paas` talks to
//! the daemon still running the old binary, and the new daemon answers
//! commands of an old one. A new request is a new word (an older daemon
//! answers `error unknown request`), never a new meaning for an old one.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use thiserror::Error;

use crate::error::{Context, Error, Result};
use crate::state::{AppDir, AppName, NameError, Root};

/// What a command asks the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `ping`: whether the daemon answers.
    Ping,
    /// `reload <app>`: re-read the app's routes, settings and certificate;
    /// `ok` means the router uses them from now on.
    Reload { app: AppName },
    /// `drain <container>…`: answer once no request to those dynos (taken
    /// out of the routes already) is under way, 30 s at most.
    Drain { containers: Vec<String> },
    /// `domain`: re-read the platform's domain.
    Domain,
    /// `acme <app>`: get the app's certificate now; `ok <what it got>`, or
    /// `error <why not>`.
    Acme { app: AppName },
    /// `probation <app>`: start watching the app's window (`probation`).
    Probation { app: AppName },
    /// `acme-dashboard`: get the dashboard's certificate now; answered as
    /// `acme` is.
    DashboardAcme,
}

/// A request line the daemon cannot take: the `<why>` of its `error` answer.
#[derive(Debug, Error, PartialEq)]
pub enum RequestError {
    /// Word for word what every daemon has answered to a word it does not
    /// know, so a client tells an older daemon by it.
    #[error("unknown request")]
    Unknown,
    #[error(transparent)]
    App(#[from] NameError),
}

impl Request {
    /// The request's line, without its newline.
    pub fn encode(&self) -> String {
        match self {
            Request::Ping => "ping".to_string(),
            Request::Reload { app } => format!("reload {app}"),
            Request::Drain { containers } => format!("drain {}", containers.join(" ")),
            Request::Domain => "domain".to_string(),
            Request::Acme { app } => format!("acme {app}"),
            Request::Probation { app } => format!("probation {app}"),
            Request::DashboardAcme => "acme-dashboard".to_string(),
        }
    }

    /// A request line (without its newline). Read as daemons always have:
    /// the word ends at the first space, an app name is trimmed, and `ping`
    /// and `domain` ignore what follows them.
    pub fn decode(line: &str) -> std::result::Result<Request, RequestError> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let app = || AppName::parse(rest.trim());
        Ok(match word {
            "ping" => Request::Ping,
            "reload" => Request::Reload { app: app()? },
            "drain" => Request::Drain {
                containers: rest.split_whitespace().map(str::to_string).collect(),
            },
            "domain" => Request::Domain,
            "acme" => Request::Acme { app: app()? },
            "probation" => Request::Probation { app: app()? },
            "acme-dashboard" => Request::DashboardAcme,
            _ => return Err(RequestError::Unknown),
        })
    }

    /// How long the client waits for the answer.
    fn timeout(&self) -> Duration {
        match self {
            Request::Ping | Request::Reload { .. } | Request::Probation { .. } => {
                Duration::from_secs(10)
            }
            Request::Domain => Duration::from_secs(5),
            // The router's 30 s request timeout, and some.
            Request::Drain { .. } => Duration::from_secs(40),
            // An ACME order: the CA checks each host over HTTP.
            Request::Acme { .. } | Request::DashboardAcme => Duration::from_secs(240),
        }
    }
}

/// The daemon's answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `ok`: done.
    Ok,
    /// `ok <what>`: done, and what came of it (`acme`: the certificate's
    /// hosts and expiry).
    Got(String),
    /// `error <why>`: not done, and why.
    Error(String),
}

/// An answer line that is none of `ok`, `ok <what>`, `error <why>` (an empty
/// one: the daemon closed the connection without answering).
#[derive(Debug, Error, PartialEq)]
#[error("the router answered `{0}`")]
pub struct AnswerError(pub String);

impl Answer {
    /// The answer's line, without its newline: a line break in what it
    /// carries becomes a space, as the answer is one line.
    pub fn encode(&self) -> String {
        match self {
            Answer::Ok => "ok".to_string(),
            Answer::Got(what) => format!("ok {}", what.replace('\n', " ")),
            Answer::Error(why) => format!("error {}", why.replace('\n', " ")),
        }
    }

    /// An answer line (trimmed first, as clients always have).
    pub fn decode(line: &str) -> std::result::Result<Answer, AnswerError> {
        let line = line.trim();
        if line == "ok" {
            Ok(Answer::Ok)
        } else if let Some(what) = line.strip_prefix("ok ") {
            Ok(Answer::Got(what.to_string()))
        } else if let Some(why) = line.strip_prefix("error ") {
            Ok(Answer::Error(why.to_string()))
        } else {
            Err(AnswerError(line.to_string()))
        }
    }
}

/// Asks the daemon to watch an app's window (`probation`).
pub fn watch_window(root: &Root, app: &AppDir) -> Result<()> {
    request(
        root,
        &Request::Probation {
            app: app.name.clone(),
        },
    )
}

/// Asks the daemon to reload an app's routes; returns once it has.
pub fn notify_router(root: &Root, app: &AppName) -> Result<()> {
    request(root, &Request::Reload { app: app.clone() })
}

/// Has the router re-read the app's routes, settings and certificate; a
/// router that is down is a warning (it reads them all when it starts).
pub fn reload_router(root: &Root, app: &AppDir) {
    if let Err(err) = notify_router(root, &app.name) {
        say!(
            " !     warning: the router did not reload `{}` ({}); start it with `paas server start`",
            app.name,
            err.message()
        );
    }
}

/// Tells the router the platform's domain changed (`domains:set-global`).
pub fn reload_domain(root: &Root) -> Result<()> {
    request(root, &Request::Domain)
}

/// Waits until the router has no request under way to these dynos (taken
/// out of the routes already), at most its 30 s request timeout.
pub fn drain_router(root: &Root, containers: &[String]) -> Result<()> {
    request(
        root,
        &Request::Drain {
            containers: containers.to_vec(),
        },
    )
}

/// Whether the daemon answers on its control socket.
pub fn ping_daemon(root: &Root) -> Result<()> {
    request(root, &Request::Ping)
}

/// Asks the daemon to get the app's ACME certificate now (the dashboard's,
/// without an app): what it got, or why not.
pub fn acme_request(
    root: &Root,
    app: Option<&AppDir>,
) -> Result<std::result::Result<String, String>> {
    let request = match app {
        Some(app) => Request::Acme {
            app: app.name.clone(),
        },
        None => Request::DashboardAcme,
    };
    let line = exchange(root, &request)?;
    Ok(match Answer::decode(&line) {
        Ok(Answer::Got(got)) => Ok(got),
        Ok(Answer::Error(why)) => Err(why),
        // No daemon answers so; what it said is the best why.
        Ok(Answer::Ok) | Err(_) => Err(line),
    })
}

/// Sends a request that is done or not: any answer but `ok` is an error.
fn request(root: &Root, request: &Request) -> Result<()> {
    let line = exchange(root, request)?;
    match Answer::decode(&line) {
        Ok(Answer::Ok) => Ok(()),
        _ => Err(Error::unexpected(AnswerError(line).to_string())),
    }
}

/// Sends one request on the control socket and reads its one-line answer,
/// trimmed.
fn exchange(root: &Root, request: &Request) -> Result<String> {
    let socket = root.control_socket();
    let mut stream =
        UnixStream::connect(&socket).context(|| format!("connecting to `{}`", socket.display()))?;
    stream
        .set_read_timeout(Some(request.timeout()))
        .context(|| "setting a timeout".into())?;
    writeln!(stream, "{}", request.encode()).context(|| "writing to the router".into())?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .context(|| "reading the router's answer".into())?;
    Ok(answer.trim().to_string())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    /// Every request, and its line as every paas version has sent it.
    fn requests() -> Vec<(Request, &'static str)> {
        vec![
            (Request::Ping, "ping"),
            (Request::Reload { app: app("myapp") }, "reload myapp"),
            (
                Request::Drain {
                    containers: vec!["paas-x-a-web.1-v2-aa".into(), "paas-x-a-web.2-v2-bb".into()],
                },
                "drain paas-x-a-web.1-v2-aa paas-x-a-web.2-v2-bb",
            ),
            (Request::Domain, "domain"),
            (Request::Acme { app: app("my-app") }, "acme my-app"),
            (Request::Probation { app: app("a1") }, "probation a1"),
            (Request::DashboardAcme, "acme-dashboard"),
        ]
    }

    #[test]
    fn requests_keep_their_lines_and_round_trip() {
        for (request, line) in requests() {
            assert_eq!(request.encode(), line);
            assert_eq!(Request::decode(line), Ok(request));
        }
    }

    #[test]
    fn requests_are_read_as_older_daemons_read_them() {
        assert_eq!(Request::decode("ping now"), Ok(Request::Ping));
        assert_eq!(Request::decode("domain x"), Ok(Request::Domain));
        assert_eq!(
            Request::decode("reload  myapp "),
            Ok(Request::Reload { app: app("myapp") })
        );
        assert_eq!(
            Request::decode("drain"),
            Ok(Request::Drain { containers: vec![] })
        );
        assert_eq!(
            Request::decode("drain  a   b "),
            Ok(Request::Drain {
                containers: vec!["a".into(), "b".into()]
            })
        );
    }

    #[test]
    fn a_malformed_request_says_what_is_wrong() {
        let why = |line: &str| Request::decode(line).unwrap_err().to_string();
        assert_eq!(why(""), "unknown request");
        assert_eq!(why("shutdown"), "unknown request");
        assert_eq!(why("PING"), "unknown request");
        assert_eq!(why("reload"), "app name is empty");
        assert_eq!(why("acme "), "app name is empty");
        assert_eq!(
            why("probation My_App"),
            "app name `My_App` must start with a lowercase letter"
        );
        // The daemon's answer to each, as older clients read it.
        assert_eq!(
            Answer::Error(why("reload ../x")).encode(),
            "error app name `../x` must start with a lowercase letter"
        );
        assert_eq!(
            Answer::Error(why("wake myapp")).encode(),
            "error unknown request"
        );
    }

    #[test]
    fn answers_keep_their_lines_and_round_trip() {
        let answers = [
            (Answer::Ok, "ok"),
            (
                Answer::Got("myapp.example.com until 2026-01-01".into()),
                "ok myapp.example.com until 2026-01-01",
            ),
            (
                Answer::Error("the CA refused the order".into()),
                "error the CA refused the order",
            ),
        ];
        for (answer, line) in answers {
            assert_eq!(answer.encode(), line);
            assert_eq!(Answer::decode(line), Ok(answer.clone()));
            assert_eq!(Answer::decode(&format!("{line}\n")), Ok(answer));
        }
    }

    #[test]
    fn an_answer_stays_on_one_line() {
        let answer = Answer::Error("order failed:\nDNS for x.example.com".into());
        assert_eq!(answer.encode(), "error order failed: DNS for x.example.com");
    }

    #[test]
    fn a_malformed_answer_says_what_came() {
        let why = |line: &str| Answer::decode(line).unwrap_err().to_string();
        assert_eq!(why(""), "the router answered ``");
        assert_eq!(why("okay"), "the router answered `okay`");
        assert_eq!(why("error"), "the router answered `error`");
    }

    /// The client's bytes on the socket, and how it takes each answer.
    #[test]
    fn the_client_sends_one_line_and_reads_one() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::create_dir_all(root.run_dir()).unwrap();
        let listener = UnixListener::bind(root.control_socket()).unwrap();
        let daemon = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in [
                "ok\n",
                "error no such app\n",
                "ok x.example.com until then\n",
            ] {
                let (stream, _) = listener.accept().unwrap();
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).unwrap();
                seen.push(line);
                (&stream).write_all(answer.as_bytes()).unwrap();
            }
            seen
        });
        let myapp = root.app(&app("myapp"));
        assert!(notify_router(&root, &myapp.name).is_ok());
        assert_eq!(
            drain_router(&root, &["c1".into()]).unwrap_err().message(),
            "the router answered `error no such app`"
        );
        assert_eq!(
            acme_request(&root, Some(&myapp)).unwrap(),
            Ok("x.example.com until then".to_string())
        );
        assert_eq!(
            daemon.join().unwrap(),
            ["reload myapp\n", "drain c1\n", "acme myapp\n"]
        );
    }
}
