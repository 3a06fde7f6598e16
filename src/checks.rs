//! Health checks: what a new dyno passes before traffic moves to it and the
//! old dynos stop. A dyno without checks of its own must stay up 10 s (and a
//! web dyno must listen on `$PORT`, which converge waits for first), unless
//! no dyno of its type runs (nothing to protect). The `healthchecks` of the
//! slug's `app.json`, in Dokku's format, replace that.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::net;
use crate::runtime::{Dyno, Runtime, DYNO_PORT};

/// One check of `app.json`: `{"healthchecks": {"web": [ {...} ]}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    #[serde(default, rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    /// An HTTP check of this path on `$PORT`.
    pub path: Option<String>,
    /// Text the HTTP response must contain.
    pub content: Option<String>,
    /// A command run inside the dyno, which must exit 0.
    pub command: Option<Vec<String>>,
    /// Seconds the dyno must have been up.
    pub uptime: Option<u64>,
    /// Whether something listens on `$PORT`.
    #[serde(default)]
    pub listening: bool,
    pub attempts: Option<u32>,
    pub timeout: Option<u64>,
    pub wait: Option<u64>,
    pub initial_delay: Option<u64>,
    pub port: Option<u16>,
    pub scheme: Option<String>,
    #[serde(default)]
    pub http_headers: Vec<HttpHeader>,
    /// A failure is reported and does not fail the change.
    #[serde(default)]
    pub warn: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

#[derive(Deserialize)]
struct AppJson {
    #[serde(default)]
    healthchecks: BTreeMap<String, Vec<Check>>,
}

/// Checks per process type, from `app.json` in an app's tree (none without one).
pub fn load(app_dir: &Path) -> Result<BTreeMap<String, Vec<Check>>> {
    let text = crate::state::read_untrusted(&app_dir.join("app.json"), 1024 * 1024)?;
    parse(text.as_deref())
}

/// Checks per process type, from the text of an `app.json` (none without one).
pub fn parse(app_json: Option<&str>) -> Result<BTreeMap<String, Vec<Check>>> {
    let Some(text) = app_json else {
        return Ok(BTreeMap::new());
    };
    let parsed: AppJson = serde_json::from_str(text).map_err(|err| {
        Error::new(format!("app.json is not valid: {err}"))
            .hint("fix app.json (its `healthchecks` follow Dokku's format) and push again")
    })?;
    for (process_type, checks) in &parsed.healthchecks {
        for (index, check) in checks.iter().enumerate() {
            check.validate().map_err(|problem| {
                Error::new(format!(
                    "app.json: healthchecks.{process_type}[{index}] {problem}"
                ))
                .hint("fix app.json and push again; `paas checks:skip` deploys without checks")
            })?;
        }
    }
    Ok(parsed.healthchecks)
}

impl Check {
    fn validate(&self) -> std::result::Result<(), String> {
        let kinds = [
            self.path.is_some(),
            self.command.is_some(),
            self.uptime.is_some(),
            self.listening,
        ];
        match kinds.iter().filter(|k| **k).count() {
            0 => {
                return Err(
                    "checks nothing: give one of `path`, `command`, `uptime` or `listening`".into(),
                )
            }
            1 => {}
            _ => {
                return Err(
                    "has more than one of `path`, `command`, `uptime` and `listening`; give one"
                        .into(),
                )
            }
        }
        if self.content.is_some() && self.path.is_none() {
            return Err("has `content` without a `path` to find it in".into());
        }
        if !["", "startup", "readiness", "liveness"].contains(&self.kind.as_str()) {
            return Err(format!(
                "has type `{}`; it is `startup`, `readiness` or `liveness`",
                self.kind
            ));
        }
        if let Some(path) = &self.path {
            if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("has path `{path}`; give one such as `/health`"));
            }
        }
        if matches!(&self.command, Some(words) if words.is_empty()) {
            return Err("has an empty `command`".into());
        }
        if let Some(port) = self.port.filter(|p| *p != DYNO_PORT) {
            return Err(format!(
                "has port {port}; dynos are checked on `$PORT` ({DYNO_PORT}), so leave it out"
            ));
        }
        if let Some(scheme) = self
            .scheme
            .as_deref()
            .filter(|s| !s.eq_ignore_ascii_case("http"))
        {
            return Err(format!(
                "has scheme `{scheme}`; dynos answer plain HTTP on `$PORT` (the router terminates TLS)"
            ));
        }
        if self.attempts == Some(0) || self.attempts > Some(100) {
            return Err("has `attempts` out of 1 to 100".into());
        }
        for (field, value) in [
            ("timeout", self.timeout),
            ("wait", self.wait),
            ("initialDelay", self.initial_delay),
            ("uptime", self.uptime),
        ] {
            if value > Some(600) {
                return Err(format!("has `{field}` over 600 seconds"));
            }
        }
        for header in &self.http_headers {
            if header.name.is_empty()
                || !header
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                || header.value.chars().any(|c| c.is_control())
            {
                return Err(format!("has a bad HTTP header `{}`", header.name));
            }
        }
        Ok(())
    }

    /// Liveness checks watch a running dyno; paas runs them at start only
    /// where they are all there is.
    pub fn gates_start(&self) -> bool {
        self.kind != "liveness"
    }

    pub fn describe(&self) -> String {
        let what = if let Some(path) = &self.path {
            match &self.content {
                Some(content) => format!("GET {path} contains {content:?}"),
                None => format!("GET {path}"),
            }
        } else if let Some(command) = &self.command {
            format!("`{}`", command.join(" "))
        } else if self.listening {
            "listening on $PORT".into()
        } else {
            format!("up {} s", self.uptime.unwrap_or(0))
        };
        match &self.name {
            Some(name) => format!("`{name}` ({what})"),
            None => what,
        }
    }

    fn attempts(&self) -> u32 {
        self.attempts.unwrap_or(3)
    }
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.unwrap_or(5).max(1))
    }
    fn wait(&self) -> Duration {
        Duration::from_secs(self.wait.unwrap_or(5))
    }
}

/// The default check of a dyno without checks of its own.
pub fn uptime_check(seconds: u64) -> Check {
    Check {
        uptime: Some(seconds),
        ..Check::default()
    }
}

/// What a dyno must pass: its type's checks that gate a start, else the
/// default uptime check (none when `uptime_secs` is None).
pub fn for_process_type(
    checks: &BTreeMap<String, Vec<Check>>,
    process_type: &str,
    uptime_secs: Option<u64>,
) -> Vec<Check> {
    let gating: Vec<Check> = checks
        .get(process_type)
        .map(|list| list.iter().filter(|c| c.gates_start()).cloned().collect())
        .unwrap_or_default();
    match uptime_secs {
        Some(secs) if gating.is_empty() => vec![uptime_check(secs)],
        _ => gating,
    }
}

/// Where and how to reach the dyno under check.
pub struct Target<'a> {
    pub runtime: &'a dyn Runtime,
    pub dyno: &'a Dyno,
    /// When its container was started (at most: converge asked just before).
    pub started: Instant,
    /// The `Host` HTTP checks send: the app's own hostname.
    pub host: String,
}

/// Runs one check to the end of its attempts. Ok holds what it saw; Err
/// holds every failed attempt, for the deploy log.
pub fn run(check: &Check, target: &Target) -> std::result::Result<String, Vec<String>> {
    let since_start = |secs: u64| target.started + Duration::from_secs(secs);
    if let Some(delay) = check.initial_delay {
        sleep_until(since_start(delay));
    }
    if let Some(uptime) = check.uptime {
        // One look once the time is up: a dyno that exits before then fails.
        sleep_until_or_exit(target, since_start(uptime));
        return match target.runtime.status(target.dyno) {
            Ok((true, _)) => Ok(format!("up {uptime} s")),
            Ok((false, code)) => Err(vec![format!(
                "the process exited with status {code} before it was up {uptime} s"
            )]),
            Err(err) => Err(vec![err.to_string()]),
        };
    }
    let mut failures = Vec::new();
    for attempt in 1..=check.attempts() {
        if attempt > 1 {
            std::thread::sleep(check.wait());
        }
        if let Ok((false, code)) = target.runtime.status(target.dyno) {
            failures.push(format!("the process exited with status {code}"));
            return Err(failures);
        }
        match attempt_once(check, target) {
            Ok(seen) => return Ok(seen),
            Err(problem) => {
                failures.push(format!("attempt {attempt}/{}: {problem}", check.attempts()))
            }
        }
    }
    Err(failures)
}

fn attempt_once(check: &Check, target: &Target) -> std::result::Result<String, String> {
    if let Some(path) = &check.path {
        if target.dyno.process_type != "web" {
            return Err("the dyno has no address to check over HTTP (only web dynos do)".into());
        }
        let socket = target
            .runtime
            .connect_web(target.dyno, check.timeout())
            .map_err(|err| format!("connecting to $PORT: {err}"))?;
        let (status, body) = http_get(socket, path, &target.host, check)?;
        if !(200..400).contains(&status) {
            return Err(format!("GET {path} answered {status}"));
        }
        if let Some(content) = &check.content {
            if !String::from_utf8_lossy(&body).contains(content.as_str()) {
                return Err(format!("GET {path} answered {status} without {content:?}"));
            }
        }
        return Ok(format!("GET {path} answered {status}"));
    }
    if let Some(command) = &check.command {
        let (code, output) = target
            .runtime
            .exec(target.dyno, command, check.timeout())
            .map_err(|err| err.to_string())?;
        let output = output.trim_end();
        return match code {
            0 => Ok(format!("`{}` exited 0", command.join(" "))),
            code => Err(format!(
                "`{}` exited {code}{}{output}",
                command.join(" "),
                if output.is_empty() { "" } else { ": " }
            )),
        };
    }
    // `listening`.
    match target.runtime.is_listening(target.dyno, DYNO_PORT) {
        Ok(true) => Ok("listening on $PORT".into()),
        Ok(false) => Err(format!("nothing listens on $PORT ({DYNO_PORT})")),
        Err(err) => Err(err.to_string()),
    }
}

/// One GET over a connection to the dyno, within the check's timeout.
fn http_get(
    socket: TcpStream,
    path: &str,
    host: &str,
    check: &Check,
) -> std::result::Result<(u16, Vec<u8>), String> {
    let timeout = check.timeout();
    let mut request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::USER_AGENT, "paas-healthcheck")
        .header(hyper::header::ACCEPT, "*/*")
        .header(hyper::header::CONNECTION, "close");
    for header in &check.http_headers {
        request = request.header(&header.name, &header.value);
    }
    // The timeout bounds the whole exchange, not each read: a dyno that
    // trickles its answer is cut off.
    let exchange = async {
        let request = request.body(bytes::Bytes::new())?;
        let stream = net::Stream::plain(
            socket,
            net::Timeouts {
                connect: timeout,
                read: None,
                write: None,
            },
        )?;
        let mut connection = net::Connection::open(stream).await?;
        net::within(timeout, connection.send(request, 1024 * 1024)).await
    };
    let response = net::block_on(exchange).map_err(|err| {
        if err.is_timeout() {
            format!("GET {path} timed out after {} s", timeout.as_secs())
        } else {
            format!("GET {path}: {err}")
        }
    })?;
    Ok((response.status(), response.body.to_vec()))
}

fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        std::thread::sleep(when - now);
    }
}

/// Sleeps until `when`, or until the dyno exits, whichever comes first.
fn sleep_until_or_exit(target: &Target, when: Instant) {
    while Instant::now() < when {
        if let Ok((false, _)) = target.runtime.status(target.dyno) {
            return;
        }
        sleep_until(when.min(Instant::now() + Duration::from_millis(500)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<BTreeMap<String, Vec<Check>>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.json"), json).unwrap();
        load(dir.path())
    }

    #[test]
    fn reads_dokku_healthchecks_and_ignores_the_rest_of_app_json() {
        let checks = parse(
            r#"{"name": "demo", "env": {"A": "b"}, "healthchecks": {"web": [
                {"type": "startup", "name": "ready", "path": "/health", "content": "ok",
                 "attempts": 2, "timeout": 3, "wait": 1, "initialDelay": 1,
                 "httpHeaders": [{"name": "X-Check", "value": "1"}], "description": "x"},
                {"type": "liveness", "path": "/live"}],
              "worker": [{"uptime": 3}]}}"#,
        )
        .unwrap();
        let web = for_process_type(&checks, "web", Some(10));
        assert_eq!(web.len(), 1, "liveness checks do not gate a start");
        assert_eq!(web[0].describe(), "`ready` (GET /health contains \"ok\")");
        assert_eq!(
            (web[0].attempts(), web[0].timeout()),
            (2, Duration::from_secs(3))
        );
        assert_eq!(
            for_process_type(&checks, "worker", Some(10))[0].uptime,
            Some(3)
        );
        assert_eq!(
            for_process_type(&checks, "clock", Some(10)),
            vec![uptime_check(10)]
        );
        // Nothing to protect: no default, but the app's own checks stay.
        assert!(for_process_type(&checks, "clock", None).is_empty());
        assert_eq!(for_process_type(&checks, "worker", None)[0].uptime, Some(3));
        assert!(load(tempfile::tempdir().unwrap().path())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn refuses_checks_paas_cannot_run_with_the_reason() {
        for (json, expected) in [
            (r#"{"path": "/", "uptime": 3}"#, "more than one of"),
            (r#"{"path": "health"}"#, "has path `health`"),
            (r#"{"path": "/", "port": 8080}"#, "has port 8080"),
            (r#"{"path": "/", "scheme": "https"}"#, "has scheme `https`"),
            (r#"{"type": "warmup", "uptime": 3}"#, "has type `warmup`"),
            (r#"{"command": []}"#, "empty `command`"),
            (r#"{"type": "startup"}"#, "checks nothing"),
            (
                r#"{"content": "ok", "uptime": 3}"#,
                "`content` without a `path`",
            ),
            (r#"{"path": "/", "attempts": 0}"#, "`attempts`"),
        ] {
            let err = parse(&format!(r#"{{"healthchecks": {{"web": [{json}]}}}}"#)).unwrap_err();
            assert!(
                err.message().starts_with("app.json: healthchecks.web[0] ")
                    && err.message().contains(expected),
                "{json}: {}",
                err.message()
            );
        }
        let err = parse("{ not json").unwrap_err();
        assert!(
            err.message().starts_with("app.json is not valid"),
            "{}",
            err.message()
        );
    }
}
