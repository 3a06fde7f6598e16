//! Metrics (#23): requests through the router show up in `paas metrics`
//! within a minute, with percentiles from their real response times,
//! status classes, router error codes and the web dyno's memory; a daemon restart keeps them,
//! who may not see the app may not read them, and they follow a rename.

use std::time::{Duration, Instant};

use crate::harness::{text, wait_for, TestServer};
use crate::router::push_app;

/// `/slow` answers after 300 ms, `/` at once, anything else is a 404;
/// each body is 15 bytes, `/slow`'s without a length (it ends at the
/// close, HTTP/1.0's way).
const TIMED_APP: &str = r#"
import http.server, os, time

class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(0.3)
        status = 200 if self.path in ("/", "/slow") else 404
        body = f"{status} from {os.environ['DYNO']}\n".encode()
        self.send_response(status)
        if self.path != "/slow":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass

http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()
"#;

fn metrics_json(server: &TestServer, app: &str) -> Result<serde_json::Value, String> {
    let output = server.cmd(&["metrics", "-a", app, "--since", "15m", "--json"]);
    if !output.status.success() {
        return Err(text(&output));
    }
    serde_json::from_slice(&output.stdout).map_err(|err| format!("{err}: {}", text(&output)))
}

/// The point of the minute starting at `minute`, once it counted `requests`.
fn minute_with(
    series: &serde_json::Value,
    minute: u64,
    requests: u64,
) -> Result<serde_json::Value, String> {
    let point = series["points"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|point| point["start"] == minute)
        .cloned()
        .ok_or_else(|| format!("no point for {minute}: {series}"))?;
    if point["requests"].as_u64() == Some(requests) {
        Ok(point)
    } else {
        Err(format!("{point}"))
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn requests_show_in_metrics_within_a_minute_with_their_percentiles() {
    let server = TestServer::start();
    push_app(&server, "timed", TIMED_APP);
    assert_eq!(
        server.get("timed", "/").0,
        200,
        "up before the counted minute"
    );

    // Every counted request in one minute, so one point holds them all:
    // wait for a fresh minute when this one is nearly over.
    if unix_now() % 60 > 40 {
        std::thread::sleep(Duration::from_secs(61 - unix_now() % 60));
    }
    let minute = unix_now() - unix_now() % 60;
    // 95 fast, 5 slow (300 ms): p50 is a fast one, p99 a slow one.
    for round in 0..5 {
        for _ in 0..19 {
            assert_eq!(server.get("timed", "/").0, 200);
        }
        assert_eq!(server.get("timed", "/slow").0, 200, "round {round}");
    }
    for _ in 0..4 {
        assert_eq!(server.get("timed", "/missing").0, 404);
    }
    let counted = Instant::now();
    // The request made before the minute may fall in it too.
    let series = wait_for("the requests in `metrics`", Duration::from_secs(60), || {
        let series = metrics_json(&server, "timed")?;
        minute_with(&series, minute, 104)
            .or_else(|_| minute_with(&series, minute, 105))
            .map(|_| series)
    });
    let took = counted.elapsed();
    let point = minute_with(&series, minute, 104)
        .or_else(|_| minute_with(&series, minute, 105))
        .unwrap();
    assert_eq!(point["status"][2], 4, "the 404s: {point}");
    assert_eq!(point["status"][3], 0, "{point}");
    let p50 = point["p50_ms"].as_f64().unwrap();
    let p99 = point["p99_ms"].as_f64().unwrap();
    assert!((300.0..400.0).contains(&p99), "p99 {p99} ms: {point}");
    assert!(p50 < 100.0, "p50 {p50} ms: {point}");
    // Every body counted, those without a length too.
    assert_eq!(
        point["bytes_out"].as_u64(),
        point["requests"].as_u64().map(|requests| requests * 15),
        "{point}"
    );
    eprintln!("metrics showed the requests {took:?} after the last one");

    // The web dyno's memory, sampled once a minute.
    let series = wait_for("web.1's memory", Duration::from_secs(90), || {
        let series = metrics_json(&server, "timed")?;
        let shown = series["dynos"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|dyno| {
                dyno["dyno"] == "web.1" && dyno["rss_bytes"].as_u64().unwrap_or(0) > 1 << 20
            });
        shown
            .then_some(series.clone())
            .ok_or(format!("{}", series["dynos"]))
    });
    let dyno = &series["dynos"][0];
    assert!(
        dyno["rss_bytes"].as_u64().unwrap() < 1 << 30,
        "a Python server's memory, not the host's: {dyno}"
    );

    // The same as charts, readable without colour.
    let charts = server.ok(&["metrics", "-a", "timed", "--since", "15m"]);
    for row in [
        "requests ",
        "  4xx ",
        "response p99 ",
        "web.1 memory ",
        "web.1 cpu ",
    ] {
        assert!(
            charts
                .lines()
                .any(|line| line.starts_with(row) && line.contains(" max ")),
            "no `{row}` row in:\n{charts}"
        );
    }
    assert!(!charts.contains('\x1b'), "{charts}");

    // Counts not yet flushed when the daemon stops are written as it
    // stops; a restart keeps every minute.
    for _ in 0..3 {
        assert_eq!(server.get("timed", "/missing").0, 404);
    }
    let before: u64 = total_requests(&metrics_json(&server, "timed").unwrap());
    assert!(server.local(&["server", "stop"]).status.success());
    assert!(server.local(&["server", "start"]).status.success());
    let after = total_requests(&metrics_json(&server, "timed").unwrap());
    assert!(after >= before + 3 && after >= 107, "{before} then {after}");

    // Router errors by their code: no web dyno is an H14.
    server.ok(&["ps:scale", "web=0", "-a", "timed"]);
    for _ in 0..2 {
        assert_eq!(server.get("timed", "/").0, 503);
    }
    wait_for("the H14s in `metrics`", Duration::from_secs(60), || {
        let series = metrics_json(&server, "timed")?;
        let h14: u64 = series["points"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|point| point["router_errors"]["H14"].as_u64().unwrap_or(0))
            .sum();
        (h14 == 2).then_some(()).ok_or(format!("{h14} H14s"))
    });

    // Who may not run `ps` on the app may not read its metrics.
    let eve = server.add_user("eve");
    let refused = server.cmd_with_key(&eve, &["metrics", "-a", "timed"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("app `timed` does not exist"),
        "{}",
        text(&refused)
    );

    // They follow a rename.
    server.ok(&["apps:rename", "clocked", "-a", "timed"]);
    let renamed = total_requests(&metrics_json(&server, "clocked").unwrap());
    assert!(
        renamed >= after,
        "{after} before the rename, {renamed} after"
    );
}

fn total_requests(series: &serde_json::Value) -> u64 {
    series["points"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|point| point["requests"].as_u64().unwrap_or(0))
        .sum()
}
