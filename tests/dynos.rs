//! The dyno manager (issue #6): one-off dynos and the app's log stream.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{poll, text, wait_for, wait_until, TestServer};

#[test]
fn run_executes_in_a_one_off_dyno_and_passes_its_exit_status() {
    let server = TestServer::start();
    server.repo("examples/hello", "oneoff").push_ok();
    server.ok(&["config:set", "-a", "oneoff", "GREETING=Hey"]);
    let output = server.cmd(&["run", "-a", "oneoff", "echo $GREETING from $DYNO in $PWD"]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "Hey from run.1 in /app\n"
    );
    assert!(text(&output)
        .contains("Running `echo $GREETING from $DYNO in $PWD` on oneoff... up, run.1"));

    let failed = server.cmd(&["run", "-a", "oneoff", "exit 3"]);
    assert_eq!(failed.status.code(), Some(3), "{}", text(&failed));
    // Words are passed to the command as they were given.
    let words = server.cmd(&[
        "run",
        "-a",
        "oneoff",
        "python3",
        "-c",
        "import sys; print(sys.argv[1:])",
        "a b",
        "it's",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&words.stdout),
        "['a b', \"it's\"]\n",
        "{}",
        text(&words)
    );
    assert!(
        server
            .containers("oneoff")
            .iter()
            .all(|c| !c.contains("-run.")),
        "one-off dynos are gone"
    );
}

#[test]
fn run_bash_gets_a_terminal() {
    let server = TestServer::start();
    server.repo("examples/hello", "shell").push_ok();
    let mut child = server
        .ssh_process(true, &["run", "-a", "shell", "bash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    stdin
        .write_all(b"[ -t 0 ] && echo \"tty-$DYNO-$(pwd)\"\nexit 7\n")
        .unwrap();
    let mut output = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut output)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(output.contains("tty-run.1-/app"), "{output}");
    assert_eq!(status.code(), Some(7), "{output}");
}

#[test]
fn run_detached_writes_to_the_log_stream_and_can_be_stopped() {
    let server = TestServer::start();
    server.repo("examples/hello", "background").push_ok();
    let output = server.ok(&[
        "run:detached",
        "-a",
        "background",
        "echo detached-hello; sleep 300",
    ]);
    assert!(output.contains("up, run.1"), "{output}");
    wait_for(
        "the detached dyno's output",
        Duration::from_secs(10),
        || {
            let logs = server.ok(&["logs", "-a", "background", "-d", "run.1"]);
            match logs.contains("app[run.1]: detached-hello") {
                true => Ok(()),
                false => Err(logs),
            }
        },
    );
    let ps = server.ok(&["ps", "-a", "background"]);
    assert!(
        ps.contains("=== run: one-off processes (1)") && ps.contains("run.1: up"),
        "{ps}"
    );
    server.ok(&["run:stop", "-a", "background", "run.1"]);
    assert!(!server.ok(&["ps", "-a", "background"]).contains("run.1"));
    // The web dyno was left alone.
    assert_eq!(server.get("background", "/").0, 200);
}

#[test]
fn the_log_stream_holds_platform_events_in_time_order_with_filters() {
    let server = TestServer::start();
    server.repo("examples/hello", "stream").push_ok();
    server.ok(&["config:set", "-a", "stream", "GREETING=Hi"]);
    server.ok(&["ps:scale", "-a", "stream", "web=2"]);
    for _ in 0..6 {
        server.get("stream", "/");
    }
    // Router lines are written by the daemon a moment after each request.
    let logs = wait_for("the router's six lines", Duration::from_secs(10), || {
        let logs = server.ok(&["logs", "-a", "stream", "-n", "1000"]);
        match logs.matches("paas[router]: at=info method=GET").count() >= 6 {
            true => Ok(logs),
            false => Err(logs),
        }
    });
    for expected in [
        "paas[api]: Build started by admin",
        "paas[api]: Release v1 created by admin",
        "paas[api]: Set GREETING config vars by admin",
        "paas[api]: Release v2 created by admin",
        "paas[web.1]: Starting process with command `python3 server.py`",
        "paas[web.1]: State changed from starting to up",
        "paas[web.1]: Stopping all processes with SIGTERM",
        "paas[api]: Scaled to web@2:standard-1x by admin",
        "app[web.1]: GET /",
        "app[web.2]: GET /",
        "paas[router]: at=info method=GET path=\"/\" host=stream.localhost:",
        " request_id=",
        "dyno=web.2 connect=",
        "status=200 bytes=",
    ] {
        assert!(logs.contains(expected), "missing `{expected}`:\n{logs}");
    }
    let stamps: Vec<&str> = logs.lines().filter_map(|l| l.split(' ').next()).collect();
    let mut sorted = stamps.clone();
    sorted.sort();
    assert_eq!(stamps, sorted, "lines are in time order across dynos");

    let platform_only = server.ok(&["logs", "-a", "stream", "-s", "paas"]);
    assert!(!platform_only.contains(" app["), "{platform_only}");
    let web2 = server.ok(&["logs", "-a", "stream", "-d", "web.2"]);
    assert!(web2.lines().all(|l| l.contains("[web.2]:")), "{web2}");
    let web = server.ok(&["logs", "-a", "stream", "-p", "web"]);
    assert!(
        web.contains("[web.1]") && web.contains("[web.2]") && !web.contains("[api]"),
        "{web}"
    );
    let bad = server.cmd(&["logs", "-a", "stream", "-s", "router"]);
    assert!(
        text(&bad).contains("`router` is not a log source"),
        "{}",
        text(&bad)
    );
}

#[test]
fn a_crash_looping_dyno_backs_off_and_ps_says_so() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "loopy");
    // The worker survives its start (and the suite's 1 s uptime check),
    // then dies a moment later, every time.
    repo.write(
        "Procfile",
        "web: python3 server.py\nworker: sleep 2; echo boom; exit 4\n",
    );
    repo.commit("a worker that keeps crashing");
    repo.push_ok();
    server.ok(&["ps:scale", "-a", "loopy", "worker=1"]);
    let ps = poll(Duration::from_secs(40), || {
        let ps = server.ok(&["ps", "-a", "loopy"]);
        match ps.contains("restarting in ") {
            true => Ok(ps),
            false => Err(ps),
        }
    })
    .unwrap_or_else(|last| last);
    assert!(ps.contains("worker.1: crashed (exit status 4)"), "{ps}");
    assert!(
        ps.contains("restarting in "),
        "the second crash waits before restarting:\n{ps}"
    );
    let logs = server.ok(&["logs", "-a", "loopy", "-d", "worker.1", "-n", "1000"]);
    assert!(
        logs.contains("paas[worker.1]: Process exited with status 4"),
        "{logs}"
    );
    assert!(
        logs.contains("paas[worker.1]: State changed from up to crashed"),
        "{logs}"
    );
    // The web dyno is untouched by its neighbour's crashes.
    assert_eq!(
        server.get("loopy", "/"),
        (200, "Hello from web.1\n".to_string())
    );

    // ps:restart starts afresh: no waiting.
    server.ok(&["ps:restart", "-a", "loopy", "worker"]);
    let ps = server.ok(&["ps", "-a", "loopy"]);
    assert!(!ps.contains("restarting in "), "{ps}");
}

#[test]
fn ps_stop_start_and_kill() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "stubborn");
    repo.write(
        "Procfile",
        "web: python3 server.py\nworker: trap 'echo ignoring TERM' TERM; echo ready; while true; do sleep 1; done\n",
    );
    repo.commit("a worker that ignores SIGTERM");
    repo.push_ok();
    server.ok(&["ps:scale", "-a", "stubborn", "worker=2"]);

    // A type that ignores SIGTERM is killed after the grace period (30 s
    // unless set), with R12.
    assert_eq!(
        server.ok(&["ps:stop-timeout", "-a", "stubborn"]).trim(),
        "30s"
    );
    server.ok(&["ps:stop-timeout", "-a", "stubborn", "4"]);
    server.refused(
        &["ps:stop-timeout", "-a", "stubborn", "0"],
        "is not a stop timeout",
    );
    let started = Instant::now();
    let output = server.ok(&["ps:stop", "-a", "stubborn", "worker"]);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(30),
        "{waited:?}: {output}"
    );
    assert!(
        output.contains("Stopping worker dynos on stubborn... done"),
        "{output}"
    );
    let logs = server.ok(&["logs", "-a", "stubborn", "-p", "worker", "-n", "1000"]);
    assert!(
        logs.contains("paas[worker.1]: Error R12 (Exit timeout) -> At least one process failed to exit within 4 seconds of SIGTERM"),
        "{logs}"
    );
    assert!(
        logs.contains("paas[worker.1]: Process exited with status 137"),
        "{logs}"
    );
    let ps = server.ok(&["ps", "-a", "stubborn"]);
    assert!(!ps.contains("worker.1"), "{ps}");

    // ps:start brings the type back at its previous scale.
    server.ok(&["ps:start", "-a", "stubborn", "worker"]);
    let ps = server.ok(&["ps", "-a", "stubborn"]);
    assert!(
        ps.contains("=== worker (2)") && ps.contains("worker.2: up"),
        "{ps}"
    );

    // ps:start on a type that runs keeps its scale (review finding: it scaled to 1).
    server.ok(&["ps:start", "-a", "stubborn", "worker"]);
    assert!(server
        .ok(&["ps", "-a", "stubborn"])
        .contains("=== worker (2)"));

    // ps:kill does not wait.
    let started = Instant::now();
    server.ok(&["ps:kill", "-a", "stubborn", "worker"]);
    assert!(started.elapsed() < Duration::from_secs(10));

    // Stopping one dyno: the formation still wants it, so a new one starts.
    let before = server.containers("stubborn");
    server.ok(&["ps:stop", "-a", "stubborn", "web.1"]);
    wait_for("web.1 to come back", Duration::from_secs(30), || {
        let now = server.containers("stubborn");
        match server.get("stubborn", "/").0 == 200 && now.len() == 1 && now != before {
            true => Ok(()),
            false => Err(format!("{now:?}")),
        }
    });
    let bad = server.cmd(&["ps:stop", "-a", "stubborn", "web.9"]);
    assert!(
        text(&bad).contains("has no process type or dyno `web.9`"),
        "{}",
        text(&bad)
    );
}

#[test]
fn a_syslog_drain_receives_the_stream() {
    use std::sync::{Arc, Mutex};
    let server = TestServer::start();
    server.repo("examples/hello", "drained").push_ok();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "syslog://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let received = Arc::new(Mutex::new(String::new()));
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
        }
    });
    // A drain inside the server's network (here: loopback) is refused
    // until an admin allows such URLs.
    server.refused(
        &["drains:add", "-a", "drained", &url],
        "127.0.0.1 is a loopback address: paas sends logs only to the internet",
    );
    server.refused(
        &["drains:add", "-a", "drained", "https://localhost/logs"],
        "`paas server install --allow-private-urls yes`",
    );
    assert!(!server.ok(&["drains", "-a", "drained"]).contains(&url));
    server.install(&["--allow-private-urls", "yes"]);
    let output = server.ok(&["drains:add", "-a", "drained", &url]);
    assert!(
        output.contains(&format!("Successfully added drain {url}")),
        "{output}"
    );
    assert!(server.ok(&["drains", "-a", "drained"]).contains(&url));

    let got = wait_for(
        "the app's and router's lines at the drain",
        Duration::from_secs(30),
        || {
            server.get("drained", "/drained");
            let got = received.lock().unwrap().clone();
            match got.contains("host app web.1 - GET /drained")
                && got.contains("host paas router - at=info method=GET path=\"/drained\"")
            {
                true => Ok(got),
                false => Err(got),
            }
        },
    );
    // RFC 6587 octet counting: each frame starts with its length.
    let first = got.split_once(' ').unwrap().0;
    assert!(first.parse::<usize>().is_ok(), "{got}");
    assert!(
        got.contains(" <190>1 ") || got.starts_with(&format!("{first} <19")),
        "{got}"
    );
    server.ok(&["drains:remove", "-a", "drained", &url]);
    assert!(!server.ok(&["drains", "-a", "drained"]).contains(&url));
    server.refused(
        &["drains:add", "-a", "drained", "ftp://logs.example.com"],
        "is not a drain URL",
    );
}

/// What a TLS listener received: raw bytes (a syslog+tls drain) and, for
/// connections that spoke HTTP, each request's head and body.
#[derive(Default)]
struct TlsSink {
    syslog: String,
    posts: Vec<String>,
}

/// A TLS listener on 127.0.0.1 answering every HTTP POST with 200 and
/// keeping whatever else it reads.
fn tls_listener(
    config: std::sync::Arc<rustls::ServerConfig>,
) -> (u16, std::sync::Arc<std::sync::Mutex<TlsSink>>) {
    use std::io::BufRead;
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = Arc::new(Mutex::new(TlsSink::default()));
    let shared = sink.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (config, sink) = (config.clone(), shared.clone());
            std::thread::spawn(move || {
                let session = rustls::ServerConnection::new(config).unwrap();
                let mut reader = std::io::BufReader::new(rustls::StreamOwned::new(session, stream));
                let speaks_http = reader
                    .fill_buf()
                    .map(|start| start.starts_with(b"POST "))
                    .unwrap_or(false);
                if !speaks_http {
                    // Syslog frames are counted, not ended by newlines.
                    let mut buffer = [0u8; 4096];
                    while let Ok(n @ 1..) = reader.read(&mut buffer) {
                        let text = String::from_utf8_lossy(&buffer[..n]).to_string();
                        sink.lock().unwrap().syslog.push_str(&text);
                    }
                    return;
                }
                loop {
                    let mut post = String::new();
                    if reader.read_line(&mut post).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(value) = header.strip_prefix("Content-Length: ") {
                            length = value.trim().parse().unwrap();
                        }
                        post.push_str(&header);
                        if header == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    post.push_str(&String::from_utf8_lossy(&body));
                    sink.lock().unwrap().posts.push(post);
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if reader.get_mut().write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, sink)
}

#[test]
fn tls_and_https_drains_receive_the_stream_from_a_server_they_trust() {
    let server = TestServer::start_allowing_private_urls();
    server.repo("examples/hello", "secured").push_ok();
    let certificates = crate::harness::TestCertificates::new();
    let (port, sink) = tls_listener(certificates.server_config());
    let syslog = format!("syslog+tls://127.0.0.1:{port}");
    let https = format!("https://logs:s3cret@127.0.0.1:{port}/logs?app=secured");
    server.ok(&["drains:add", "-a", "secured", &syslog]);
    server.ok(&["drains:add", "-a", "secured", &https]);

    // The daemon trusts the system's authorities only: it refuses the
    // listener's certificate, says so in its log, and sends it nothing.
    let daemon_log = server.root.path().join("logs/daemon.log");
    wait_for(
        "the refusal in the daemon's log",
        Duration::from_secs(30),
        || {
            server.get("secured", "/untrusted");
            let log = std::fs::read_to_string(&daemon_log).unwrap_or_default();
            let refusals = log.matches("is losing lines: invalid peer certificate");
            match refusals.count() >= 2 {
                true => Ok(()),
                false => Err(log),
            }
        },
    );
    {
        let got = sink.lock().unwrap();
        assert!(got.syslog.is_empty() && got.posts.is_empty());
    }

    // Trusting the test authority (as `SSL_CERT_FILE` says), both get it.
    let restart = |verb: &str| {
        let output = std::process::Command::new(crate::harness::paas_bin())
            .env("SSL_CERT_FILE", &certificates.ca)
            .arg("--root")
            .arg(server.root.path())
            .args(["server", verb])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
    };
    restart("stop");
    restart("start");
    let post = wait_for("the line at both drains", Duration::from_secs(30), || {
        server.get("secured", "/trusted");
        let got = sink.lock().unwrap();
        let posted = got.posts.iter().find(|p| p.contains("GET /trusted"));
        match (got.syslog.contains("host app web.1 - GET /trusted"), posted) {
            (true, Some(post)) => Ok(post.clone()),
            _ => Err(format!(
                "syslog got:\n{}\nposts ({}), the last:\n{:?}",
                got.syslog,
                got.posts.len(),
                got.posts.last()
            )),
        }
    });
    assert!(
        post.starts_with("POST /logs?app=secured HTTP/1.1\r\n"),
        "{post}"
    );
    assert!(
        post.contains("Content-Type: application/logplex-1"),
        "{post}"
    );
    assert!(post.contains("Logplex-Msg-Count: "), "{post}");
    // base64("logs:s3cret")
    assert!(
        post.contains("Authorization: Basic bG9nczpzM2NyZXQ="),
        "{post}"
    );
}

#[test]
fn stopping_a_dyno_signals_every_process_in_it() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "family");
    repo.write(
        "Procfile",
        // The parent waits for its child on TERM without forwarding the signal, so
        // "child got TERM" can only come from the platform signalling the whole
        // dyno, and the dyno is not torn down before the child's trap ran.
        "web: python3 server.py\nworker: trap 'echo parent got TERM; wait; exit 0' TERM; bash -c \"trap 'echo child got TERM; exit 0' TERM; echo child ready; while true; do sleep 0.1; done\" & while true; do sleep 0.1; done\n",
    );
    repo.commit("a worker with a child process");
    repo.push_ok();
    server.ok(&["ps:scale", "-a", "family", "worker=1"]);
    // The parent's trap is set before it starts the child.
    wait_for("the child's traps", Duration::from_secs(10), || {
        let logs = server.ok(&["logs", "-a", "family", "-d", "worker.1"]);
        match logs.contains("app[worker.1]: child ready") {
            true => Ok(()),
            false => Err(logs),
        }
    });
    server.ok(&["ps:stop", "-a", "family", "worker"]);
    let logs = server.ok(&["logs", "-a", "family", "-d", "worker.1"]);
    assert!(logs.contains("app[worker.1]: child got TERM"), "{logs}");
    assert!(logs.contains("app[worker.1]: parent got TERM"), "{logs}");
    assert!(!logs.contains("R12"), "both exited on SIGTERM:\n{logs}");
}

#[test]
fn dyno_sizes_set_limits_where_the_host_enforces_them_and_say_so_where_not() {
    let server = TestServer::start();
    server.repo("examples/hello", "sized").push_ok();
    let before = server.containers("sized");
    let output = server.ok(&["ps:scale", "-a", "sized", "web=1:standard-2x"]);
    assert!(
        output.contains("now running web at 1:standard-2x"),
        "{output}"
    );
    let after = server.containers("sized");
    assert_ne!(
        before, after,
        "a resized dyno is a new dyno, started with the new limits"
    );
    assert_eq!(server.get("sized", "/").0, 200);
    let ps = server.ok(&["ps", "-a", "sized"]);
    assert!(
        ps.contains("=== web (1, standard-2x): python3 server.py"),
        "{ps}"
    );

    let settings = std::fs::read_to_string(server.root.path().join("paas.toml")).unwrap();
    if settings.contains("limits_enforced = true") {
        let memory = server.podman(&["inspect", "--format", "{{.HostConfig.Memory}}", &after[0]]);
        assert_eq!(memory.trim(), (1024u64 * 1024 * 1024).to_string());
        assert!(!ps.contains("not enforced"), "{ps}");
    } else {
        assert!(
            ps.contains("Dyno sizes are recorded but not enforced on this host"),
            "{ps}"
        );
    }

    server.ok(&["ps:resize", "-a", "sized", "web=standard-1x"]);
    assert!(server
        .ok(&["ps", "-a", "sized"])
        .contains("=== web (1): python3 server.py"));
    let bad = server.cmd(&["ps:resize", "-a", "sized", "web=huge"]);
    assert!(
        text(&bad).contains("`huge` is not a dyno size"),
        "{}",
        text(&bad)
    );
}

#[test]
fn the_log_stream_is_trimmed_to_the_apps_limit() {
    let server = TestServer::start();
    server.repo("examples/hello", "chatty").push_ok();
    assert_eq!(server.ok(&["logs:limit", "-a", "chatty"]).trim(), "64 MB");
    server.ok(&["logs:limit", "-a", "chatty", "1"]);
    server.refused(&["logs:limit", "-a", "chatty", "0"], "is not a log limit");

    // Three one-off dynos print 600 KB each and end: past the 1 MB limit.
    for marker in ["first", "second", "third"] {
        let command =
            format!("echo {marker}-marker; head -c 600000 /dev/zero | tr '\\0' x | fold -w 1000");
        server.ok(&["run:detached", "-a", "chatty", &command]);
        wait_until("the one-off dyno to end", Duration::from_secs(30), || {
            !server.ok(&["ps", "-a", "chatty"]).contains("run.")
        });
    }
    let logs_dir = server.root.path().join("apps/chatty/logs");
    let kept = || -> u64 {
        std::fs::read_dir(&logs_dir)
            .unwrap()
            .flatten()
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    wait_for(
        "the logs to shrink",
        Duration::from_secs(30),
        || match kept() {
            bytes if bytes > 1024 * 1024 => Err(format!("still {bytes} bytes")),
            _ => Ok(()),
        },
    );
    // The oldest output went first; the newest is still in the stream.
    let logs = server.ok(&["logs", "-a", "chatty", "-n", "100000"]);
    // (the platform's `Starting process with command …` lines name them too)
    assert!(!logs.contains("]: first-marker"), "the oldest was trimmed");
    assert!(logs.contains("]: third-marker"), "the newest is kept");
}
