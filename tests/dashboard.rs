//! The web dashboard (#23 points 3–6): a login link from `paas dashboard`
//! opened in headless Chromium shows the app, its releases and its
//! graphs; a link logs in once; no page without a session; a user sees
//! nothing of an app they may not use; the buttons need the session's
//! CSRF token and run the CLI's workflows, recorded in the audit trail.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{text, wait_until, TestServer};

/// Screenshots of the app page, for people to look at (#23 point 6).
const SHOTS: &str = "/tmp/dashboard-shots";

/// A login link from `paas dashboard --print-url` as the user of `key`.
fn link(server: &TestServer, key: &Path, args: &[&str]) -> String {
    let mut words = vec!["dashboard", "--print-url"];
    words.extend(args);
    let output = server.cmd_with_key(key, &words);
    assert!(output.status.success(), "{}", text(&output));
    let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let expected = format!("http://paas.localhost:{}/login/", server.http_port);
    assert!(url.starts_with(&expected), "{url}");
    url
}

/// Headless Chromium on `url` with a profile of its own (so cookies of
/// one run do not reach the next): its stdout once the page has loaded
/// (the page's script draws the graphs as it loads; the log tail's
/// stream, open for ever, would hold a virtual-time budget back).
fn chromium(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("timeout")
        .args([
            "120",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .arg("--hide-scrollbars")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--timeout=10000")
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        text(&output)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// The dashboard through curl with a cookie jar: (status, headers and body).
fn curl(server: &TestServer, jar: &Path, path: &str, options: &[&str]) -> (u16, String) {
    let port = server.http_port;
    let output = Command::new("curl")
        .args(["-s", "-m", "20", "-D", "-", "-w", "\n%{http_code}"])
        .args(["--resolve", &format!("paas.localhost:{port}:127.0.0.1")])
        .arg("-b")
        .arg(jar)
        .arg("-c")
        .arg(jar)
        .args(options)
        .arg(format!("http://paas.localhost:{port}{path}"))
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&output.stdout).to_string();
    let (body, code) = all.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Logs in with `url` through curl; the jar then holds the session.
fn log_in(server: &TestServer, jar: &Path, url: &str) {
    let path = &url[url.find("/login/").unwrap()..];
    let (status, page) = curl(server, jar, path, &[]);
    assert_eq!(status, 303, "{page}");
    let cookie = page
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {page}"));
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure on plain HTTP: {cookie}"
    );
}

/// The CSRF token in a page's button forms.
fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    page[at..at + 64].to_string()
}

#[test]
fn a_browser_logs_in_once_and_sees_the_app_its_releases_and_graphs() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "shown");
    repo.push_ok();
    server.ok(&["config:set", "GREETING=hello", "-a", "shown"]);
    let releases: serde_json::Value =
        serde_json::from_str(&server.ok(&["releases", "-a", "shown", "--json"])).unwrap();
    // Requests for the graphs, once the daemon has counted them.
    for _ in 0..5 {
        server.get_when_200("shown", "/", Duration::from_secs(60));
    }
    wait_until(
        "the requests in the app's metrics",
        Duration::from_secs(60),
        || {
            let json = server.ok(&["metrics", "-a", "shown", "--json"]);
            let series: serde_json::Value = serde_json::from_str(&json).unwrap();
            series["points"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["requests"].as_u64() > Some(0))
        },
    );

    // From the laptop, in the app's repository: the link is for its page,
    // printed, as there is no desktop to open it on.
    let home = tempfile::tempdir().unwrap();
    let laptop = server
        .client(repo.dir.path(), home.path(), &["dashboard"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert!(laptop.status.success(), "{}", text(&laptop));
    let url = String::from_utf8_lossy(&laptop.stdout).trim().to_string();
    let expected = format!("http://paas.localhost:{}/login/", server.http_port);
    assert!(url.starts_with(&expected), "{url}");
    let dom = chromium(&url, &["--dump-dom"]);
    assert!(dom.contains("<h1>shown</h1>"), "not the app's page:\n{dom}");
    for release in releases.as_array().unwrap() {
        let description = release["description"].as_str().unwrap();
        assert!(dom.contains(description), "no `{description}` in:\n{dom}");
    }
    assert!(dom.contains(">current</span>"), "{dom}");
    // Four graphs drawn by the page's script, each with its numbers in words.
    let graphs = dom.matches("<svg viewBox=\"0 0 600 160\"").count();
    assert_eq!(graphs, 4, "graphs drawn:\n{dom}");
    let throughput = dom.split("data-graph=\"throughput\"").nth(1).unwrap();
    let throughput = &throughput[..throughput.find("</figure>").unwrap()];
    assert!(
        throughput.contains("<polyline"),
        "no line drawn:\n{throughput}"
    );
    assert!(
        throughput.contains("requests a minute: latest"),
        "{throughput}"
    );
    assert!(
        !dom.contains("Loading…"),
        "the script did not finish:\n{dom}"
    );

    // The link logged Chromium in: it is spent.
    let jar = tempfile::NamedTempFile::new().unwrap();
    let path = &url[url.find("/login/").unwrap()..];
    let (status, page) = curl(&server, jar.path(), path, &[]);
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("used, expired or unknown"), "{page}");

    // Without a session, every page is the login message.
    for path in [
        "/",
        "/apps/shown",
        "/apps/shown/metrics.json",
        "/apps/shown/logs",
    ] {
        let (status, page) = curl(&server, jar.path(), path, &[]);
        assert_eq!(status, 401, "{path}: {page}");
        assert!(page.contains("Log in to the dashboard"), "{page}");
        assert!(page.contains("paas dashboard"), "{page}");
        assert!(!page.contains("GREETING"), "{page}");
    }

    std::fs::create_dir_all(SHOTS).unwrap();
    for (name, size) in [("desktop", "1280,1600"), ("phone", "390,2400")] {
        let url = link(&server, &server.key(), &["-a", "shown"]);
        let file = format!("{SHOTS}/app-{name}.png");
        chromium(
            &url,
            &[
                &format!("--screenshot={file}"),
                &format!("--window-size={size}"),
            ],
        );
        assert!(std::fs::metadata(&file).unwrap().len() > 10_000, "{file}");
    }
}

#[test]
fn a_user_sees_only_their_apps_and_buttons_need_the_sessions_token() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "secret-app");
    repo.push_ok();
    server.ok(&["config:set", "GREETING=hello", "-a", "secret-app"]);

    // bob may use no app: his dashboard has no trace of this one.
    let bob = server.add_user("bob");
    let refused = server.cmd_with_key(&bob, &["dashboard", "--print-url", "-a", "secret-app"]);
    let absent = server.cmd_with_key(&bob, &["dashboard", "--print-url", "-a", "nosuchapp"]);
    assert!(!refused.status.success());
    assert_eq!(
        text(&refused).replace("secret-app", "nosuchapp"),
        text(&absent)
    );
    let bobs = tempfile::NamedTempFile::new().unwrap();
    // A HEAD (a link checker, a chat preview) does not use the link up.
    let url = link(&server, &bob, &[]);
    let path = &url[url.find("/login/").unwrap()..];
    let (status, head) = curl(&server, bobs.path(), path, &["-I"]);
    assert_eq!(status, 401, "{head}");
    log_in(&server, bobs.path(), &url);
    let (status, head) = curl(&server, bobs.path(), "/", &["-I"]);
    assert_eq!(status, 200, "a HEAD is a GET without the body: {head}");
    let (status, list) = curl(&server, bobs.path(), "/", &[]);
    assert_eq!(status, 200, "{list}");
    assert!(list.contains("Logged in as <strong>bob</strong>"), "{list}");
    assert!(!list.contains("secret-app"), "{list}");
    for (path, missing) in [
        ("/apps/secret-app", "/apps/nosuchapp"),
        (
            "/apps/secret-app/metrics.json",
            "/apps/nosuchapp/metrics.json",
        ),
        ("/apps/secret-app/logs", "/apps/nosuchapp/logs"),
    ] {
        let (status, page) = curl(&server, bobs.path(), path, &[]);
        let (missing_status, missing_page) = curl(&server, bobs.path(), missing, &[]);
        assert_eq!((status, missing_status), (404, 404), "{page}");
        let without_date = |page: &str| -> String {
            page.lines()
                .filter(|l| !l.starts_with("date:"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(without_date(&page), without_date(&missing_page));
    }
    let bobs_page = curl(&server, bobs.path(), "/", &[]).1;
    let (status, _) = curl(
        &server,
        bobs.path(),
        "/apps/secret-app/restart",
        &["--data", &format!("csrf={}", csrf(&bobs_page))],
    );
    assert_eq!(status, 404, "bob restarted an app he cannot see");
    // Without a key, no session.
    server.ok(&["keys:remove", "bob"]);
    let (status, page) = curl(&server, bobs.path(), "/", &[]);
    assert_eq!(status, 401, "{page}");

    // The admin's buttons: refused without the session's token, run with it.
    let jar = tempfile::NamedTempFile::new().unwrap();
    log_in(&server, jar.path(), &link(&server, &server.key(), &[]));
    let (status, page) = curl(&server, jar.path(), "/apps/secret-app", &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Restart all dynos"), "{page}");
    let token = csrf(&page);
    let post = |path: &str, form: &str| curl(&server, jar.path(), path, &["--data", form]);
    let (status, page) = post("/apps/secret-app/restart", "csrf=0000");
    assert_eq!(status, 403, "{page}");
    assert!(!server
        .ok(&["audit", "-a", "secret-app"])
        .contains("(dashboard)"));
    let (status, page) = post(
        "/apps/secret-app/rollback",
        &format!("csrf={token}&version=1"),
    );
    assert_eq!(status, 303, "{page}");
    assert!(
        page.contains("location: /apps/secret-app?done=rollback&version=3"),
        "{page}"
    );
    let releases = server.ok(&["releases", "-a", "secret-app"]);
    assert!(
        releases.contains("v3") && releases.contains("Rollback to v1"),
        "{releases}"
    );
    let (status, page) = post("/apps/secret-app/restart", &format!("csrf={token}"));
    assert_eq!(status, 303, "{page}");
    let audit = server.ok(&["audit", "-a", "secret-app"]);
    assert!(
        audit.contains("releases:rollback v1 -a secret-app (dashboard)"),
        "{audit}"
    );
    assert!(
        audit.contains("ps:restart -a secret-app (dashboard)"),
        "{audit}"
    );
    let (_, page) = curl(&server, jar.path(), "/apps/secret-app?done=restart", &[]);
    assert!(page.contains("Restarted every dyno."), "{page}");

    // The log tail streams the app's lines, the restart's among them.
    let (_, events) = curl(
        &server,
        jar.path(),
        "/apps/secret-app/logs",
        &["-N", "-m", "3"],
    );
    assert!(events.contains("text/event-stream"), "{events}");
    assert!(
        events.contains("data: ") && events.contains("Restart all by"),
        "{events}"
    );

    // Logging out ends the session.
    let (status, _) = post("/logout", &format!("csrf={token}"));
    assert_eq!(status, 200);
    let (status, _) = curl(&server, jar.path(), "/", &[]);
    assert_eq!(status, 401);
}

/// How long the dashboard's pages take with 10 apps and 7 days of
/// metrics each (#23 point 5: under 200 ms): printed, not asserted, as
/// the machine's other work moves it. Run with
/// `cargo test --test main dashboard::render_time -- --ignored --nocapture`.
#[test]
#[ignore]
fn render_time_with_ten_apps_and_a_week_of_metrics() {
    use paas::metrics::histogram::Histogram;
    use paas::metrics::series::{self, AppMinute, DynoMinute, Record};
    use std::os::unix::fs::MetadataExt;

    let server = TestServer::start();
    server.repo("examples/hello", "app1").push_ok();
    for n in 2..=10 {
        server.ok(&["apps:create", &format!("app{n}")]);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let first = now - now % 60 - 7 * 86_400;
    for n in 1..=10 {
        let app_dir = server.root.path().join(format!("apps/app{n}"));
        let mut records = Vec::new();
        for minute in 0..7 * 1440 {
            let start = first + minute * 60;
            let mut histogram = Histogram::default();
            for ms in [3, 5, 8, 12, 40] {
                histogram.record(Duration::from_millis(ms + minute % 7));
            }
            records.push(Record::App(AppMinute {
                start,
                requests: 100 + minute % 50,
                status: [95, 2, 2, 1],
                router_errors: [("H12".to_string(), minute % 2)].into(),
                bytes_out: 20_000,
                histogram,
            }));
            for dyno in ["web.1", "worker.1"] {
                records.push(Record::Dyno(DynoMinute {
                    start,
                    dyno: dyno.into(),
                    rss_bytes: (60 + minute % 20) << 20,
                    quota_bytes: Some(512 << 20),
                    cpu_percent: 3.0,
                }));
            }
        }
        series::append(&app_dir, &records, &mut Default::default()).unwrap();
        // The daemon reads them as the install's owner.
        let owner = std::fs::metadata(&app_dir).unwrap();
        for entry in std::fs::read_dir(series::dir_of(&app_dir)).unwrap() {
            let path = entry.unwrap().path();
            std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
        }
        std::os::unix::fs::chown(
            series::dir_of(&app_dir),
            Some(owner.uid()),
            Some(owner.gid()),
        )
        .unwrap();
    }
    let jar = tempfile::NamedTempFile::new().unwrap();
    log_in(&server, jar.path(), &link(&server, &server.key(), &[]));
    for path in [
        "/",
        "/apps/app1?range=1h",
        "/apps/app1?range=24h",
        "/apps/app1?range=7d",
        "/apps/app1/metrics.json?range=7d",
    ] {
        let port = server.http_port;
        let mut times: Vec<f64> = (0..11)
            .map(|_| {
                let output = Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}"])
                    .args(["--resolve", &format!("paas.localhost:{port}:127.0.0.1")])
                    .arg("-b")
                    .arg(jar.path())
                    .arg(format!("http://paas.localhost:{port}{path}"))
                    .output()
                    .unwrap();
                let out = String::from_utf8_lossy(&output.stdout).to_string();
                let (status, seconds) = out.split_once(' ').unwrap();
                assert_eq!(status, "200", "{path}");
                seconds.parse::<f64>().unwrap()
            })
            .collect();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{path}: median {:.0} ms, slowest {:.0} ms (11 requests)",
            times[5] * 1000.0,
            times[10] * 1000.0
        );
    }
}
