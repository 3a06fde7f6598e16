//! Health checks: a new release takes traffic only once its dynos pass them;
//! one that fails leaves the old release serving.

use std::time::{Duration, Instant};

use crate::harness::{text, wait_for, Poller, TestServer};

/// Serves `/` with the contents of VERSION; `/health` answers as HEALTH
/// says; with DIE_AFTER set, the process exits that many seconds after start.
const CHECKED_APP: &str = r#"
import http.server, os, threading, time

class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = 200, open("VERSION").read().encode()
        if self.path == "/health":
            status, body = (200, b"all ok") if os.environ.get("HEALTH", "ok") == "ok" else (503, b"not yet")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

if os.environ.get("DIE_AFTER"):
    threading.Timer(float(os.environ["DIE_AFTER"]), lambda: os._exit(3)).start()
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()
"#;

const HEALTH_CHECKS: &str = r#"{
  "name": "checked",
  "healthchecks": {
    "web": [
      {"type": "startup", "name": "ready", "path": "/health", "content": "ok", "attempts": 2, "wait": 1, "timeout": 2},
      {"type": "startup", "name": "config", "command": ["sh", "-c", "test \"$MODE\" = live"]}
    ]
  }
}"#;

#[test]
fn a_first_deploy_waits_only_for_its_dyno_to_listen() {
    let server = TestServer::start_with_default_checks();
    server.ok(&["apps:create", "eager"]);
    // A window no deploy could sit out within the assertion below.
    server.ok(&["checks:set", "uptime", "60", "-a", "eager"]);
    let repo = server.repo("examples/hello", "eager");
    let started = Instant::now();
    repo.push_ok();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "nothing ran to protect, yet the push took {took:?}"
    );
    assert_eq!(server.get("eager", "/").0, 200);
}

#[test]
fn failing_health_checks_keep_the_old_release_serving() {
    let server = TestServer::start_with_default_checks();
    let repo = server.repo("examples/hello", "checked");
    repo.write("Procfile", "web: python3 server.py\n");
    repo.write("server.py", CHECKED_APP);
    repo.write("VERSION", "v-one");
    repo.commit("checked app");
    server.ok(&["apps:create", "checked"]);
    server.ok(&["config:set", "MODE=live", "-a", "checked"]);
    repo.push_ok();
    assert_eq!(server.get("checked", "/"), (200, "v-one".to_string()));
    let current = |server: &TestServer| {
        let releases = server.ok(&["releases", "-a", "checked"]);
        releases.lines().next().unwrap_or_default().to_string()
    };
    assert!(current(&server).ends_with("Current: v2"));

    // Traffic moves as soon as the new dyno listens; the previous one stays
    // warm for the uptime window (10 s by default). One that exits after
    // 4 s hands the traffic back to v-one, and no request fails meanwhile.
    repo.write("Procfile", "web: DIE_AFTER=4 python3 server.py\n");
    repo.write("VERSION", "v-dies");
    repo.commit("dies after 4 s");
    let poller = Poller::start(server.http_port, "checked.localhost");
    let pushed = Instant::now();
    let said = repo.push_ok();
    assert!(
        said.contains("Traffic moved; v2's dynos stay warm for 10 s"),
        "{said}"
    );
    let within = Duration::from_secs(40).saturating_sub(pushed.elapsed());
    let releases = wait_for("the rollback to v2", within, || {
        let releases = server.ok(&["releases", "-a", "checked"]);
        match releases.contains("Rollback to v2") {
            true => Ok(releases),
            false => Err(releases),
        }
    });
    // The client keeps polling while the rollback's own dyno replaces the
    // standby one.
    std::thread::sleep(Duration::from_secs(4));
    let (served, failures, bodies) = poller.stop();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed; the first: {}",
        failures.len(),
        served + failures.len(),
        failures[0]
    );
    assert_eq!(bodies, ["v-one", "v-dies", "v-one"], "{served} served");
    // A new release says what happened, as `releases:rollback` would.
    assert!(
        releases.contains("Rollback to v2: web.1 crashed ")
            && releases.contains(" s after release v3"),
        "{releases}"
    );
    assert!(current(&server).ends_with("Current: v4"));
    assert_eq!(server.get("checked", "/"), (200, "v-one".to_string()));
    let info = server.ok(&["releases:info", "v4", "-a", "checked"]);
    assert!(
        info.contains("Change:      Rollback to v2: web.1 crashed"),
        "{info}"
    );
    let logs = server.ok(&["logs", "-a", "checked", "-d", "api", "-n", "20"]);
    assert!(
        logs.contains("s after release v3; back on v2 (as v4)"),
        "{logs}"
    );

    // `checks:set wait on`: the push waits the window out, and fails with it.
    server.ok(&["checks:set", "wait", "on", "-a", "checked"]);
    repo.write("VERSION", "v-dies-again");
    repo.commit("dies after 4 s again");
    let said = repo.push_refused();
    assert!(
        said.contains("web.1 crashed ") && said.contains("s after release v5; back on v4 (as v6)"),
        "{said}"
    );
    assert!(current(&server).ends_with("Current: v6"));
    assert_eq!(server.get("checked", "/"), (200, "v-one".to_string()));
    server.ok(&["checks:set", "wait", "off", "-a", "checked"]);

    // app.json checks replace the default: /health answers 503, so the
    // deploy fails with what each attempt saw.
    repo.write("Procfile", "web: HEALTH=failing python3 server.py\n");
    repo.write("app.json", HEALTH_CHECKS);
    repo.write("VERSION", "v-unhealthy");
    repo.commit("unhealthy");
    let said = repo.push_refused();
    assert!(
        said.contains("failed its health check `ready` (GET /health contains \"ok\")")
            && said.contains("attempt 1/2: GET /health answered 503")
            && said.contains("attempt 2/2: GET /health answered 503"),
        "{said}"
    );
    assert_eq!(server.get("checked", "/"), (200, "v-one".to_string()));
    assert!(current(&server).ends_with("Current: v6"));
    let logs = server.ok(&["logs", "-a", "checked", "-n", "300"]);
    assert!(
        logs.contains("Health check `ready` (GET /health contains \"ok\") failed"),
        "{logs}"
    );

    // `checks:skip` deploys it anyway.
    server.ok(&["checks:skip", "-a", "checked"]);
    repo.push_ok();
    assert_eq!(server.get("checked", "/"), (200, "v-unhealthy".to_string()));

    // Config changes are checked too: this release fails its check, so the
    // change is refused and the config stays.
    server.ok(&["checks:enable", "-a", "checked"]);
    let output = server.cmd(&["config:set", "MODE=staging", "-a", "checked"]);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("failed its health check `ready`"),
        "{}",
        text(&output)
    );
    assert_eq!(
        server.ok(&["config:get", "MODE", "-a", "checked"]).trim(),
        "live"
    );
    server.ok(&["checks:skip", "-a", "checked"]);
    server.ok(&["config:set", "MODE=staging", "-a", "checked"]);
    server.ok(&["checks:enable", "-a", "checked"]);

    // Healthy, but the command check reads a config var that is wrong.
    repo.write("Procfile", "web: python3 server.py\n");
    repo.write("VERSION", "v-healthy");
    repo.commit("healthy");
    let said = repo.push_refused();
    assert!(
        said.contains("failed its health check `config` (`sh -c test \"$MODE\" = live`)")
            && said.contains("exited 1"),
        "{said}"
    );
    assert_eq!(server.get("checked", "/"), (200, "v-unhealthy".to_string()));
    server.ok(&["checks:skip", "-a", "checked"]);
    server.ok(&["config:set", "MODE=live", "-a", "checked"]);
    server.ok(&["checks:enable", "-a", "checked"]);

    // Both pass: the release goes live, and `checks` lists what ran.
    repo.push_ok();
    assert_eq!(server.get("checked", "/"), (200, "v-healthy".to_string()));
    let checks = server.ok(&["checks", "-a", "checked"]);
    assert!(
        checks.contains("Checks: enabled")
            && checks.contains("web: `ready` (GET /health contains \"ok\"), `config`"),
        "{checks}"
    );
    let logs = server.ok(&["logs", "-a", "checked", "-n", "500"]);
    assert!(
        logs.contains(
            "Health check `ready` (GET /health contains \"ok\") passed: GET /health answered 200"
        ),
        "{logs}"
    );

    // A malformed app.json fails the build, saying what is wrong.
    repo.write(
        "app.json",
        r#"{"healthchecks": {"web": [{"path": "/", "port": 8080}]}}"#,
    );
    repo.commit("bad app.json");
    let said = repo.push_refused();
    assert!(
        said.contains("app.json: healthchecks.web[0] has port 8080"),
        "{said}"
    );
    assert_eq!(server.get("checked", "/"), (200, "v-healthy".to_string()));

    // Disabled: the old dyno stops before the new one starts.
    repo.write("app.json", "{}");
    repo.write("VERSION", "v-downtime");
    repo.commit("no checks");
    server.ok(&["checks:disable", "-a", "checked"]);
    repo.push_ok();
    assert_eq!(server.get("checked", "/"), (200, "v-downtime".to_string()));
    let logs = server.ok(&["logs", "-a", "checked", "-n", "40", "-d", "web.1"]);
    let stopped = logs
        .rfind("Stopping all processes with SIGTERM")
        .expect(&logs);
    let started = logs.rfind("Starting process with command").expect(&logs);
    assert!(stopped < started, "{logs}");
    assert!(server
        .ok(&["checks", "-a", "checked"])
        .contains("Checks: disabled"));
}

#[test]
fn stopping_the_new_dynos_in_their_window_keeps_the_change() {
    let server = TestServer::start();
    server.ok(&["apps:create", "halted"]);
    server.ok(&["checks:set", "uptime", "60", "-a", "halted"]);
    let repo = server.repo("examples/hello", "halted");
    repo.push_ok();
    repo.write("greeting.txt", "second");
    repo.commit("second");
    let said = repo.push_ok();
    assert!(
        said.contains("Traffic moved; v1's dynos stay warm for 60 s"),
        "{said}"
    );
    let ps = server.ok(&["ps", "-a", "halted"]);
    assert!(
        ps.contains("web.1: up ") && ps.contains("web.1: standby (takes the traffic back"),
        "{ps}"
    );

    // The user stops web: that is no crash to roll back from.
    server.ok(&["ps:stop", "web", "-a", "halted"]);
    std::thread::sleep(Duration::from_secs(3));
    let releases = server.ok(&["releases", "-a", "halted"]);
    assert!(releases.contains("Current: v2"), "{releases}");
    assert!(!releases.contains("Rollback"), "{releases}");
    assert!(server.containers("halted").is_empty());
    let ps = server.ok(&["ps", "-a", "halted"]);
    assert!(!ps.contains("web.1:"), "{ps}");
}
