//! `certs:auto`: a certificate issued by an ACME CA over HTTP-01 from inside
//! the daemon, and renewed 30 days before it expires, against Debian's
//! pebble (a real ACME server) and its DNS test server; the dashboard's
//! host gets its own the same way.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{free_port, text, wait_for, wait_until, TestCertificates, TestServer};

/// The session id in a curl cookie jar, if it holds one of `name`.
fn cookie_in(jar: &std::path::Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(jar).ok()?;
    text.lines()
        .filter_map(|line| {
            line.split('\t')
                .collect::<Vec<_>>()
                .get(5..7)
                .map(<[_]>::to_vec)
        })
        .find(|fields| fields[0] == name)
        .map(|fields| fields[1].to_string())
}

/// pebble with its own HTTPS certificate, validating HTTP-01 on the
/// router's HTTP port; every name resolves to 127.0.0.1 through
/// pebble-challtestsrv's DNS.
struct Pebble {
    children: Vec<Child>,
    tls: TestCertificates,
    directory: String,
    management_port: u16,
    _dir: tempfile::TempDir,
}

impl Pebble {
    fn start(http_port: u16, validity_secs: u64) -> Pebble {
        let dir = tempfile::Builder::new()
            .prefix("paas-pebble-")
            .tempdir()
            .unwrap();
        let tls = TestCertificates::new();
        let (acme_port, management_port, dns_port) = (free_port(), free_port(), free_port());
        let config = format!(
            r#"{{"pebble": {{
                "listenAddress": "127.0.0.1:{acme_port}",
                "managementListenAddress": "127.0.0.1:{management_port}",
                "certificate": "{}", "privateKey": "{}",
                "httpPort": {http_port}, "tlsPort": {},
                "certificateValidityPeriod": {validity_secs},
                "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
            tls.cert.display(),
            tls.key.display(),
            free_port()
        );
        let config_file = dir.path().join("pebble.json");
        std::fs::write(&config_file, config).unwrap();
        let log = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let dns = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(log("dns.log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv (apt-get install pebble)");
        let pebble = Command::new("pebble")
            .arg("-config")
            .arg(&config_file)
            .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log("pebble.log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble (apt-get install pebble)");
        let pebble = Pebble {
            children: vec![dns, pebble],
            tls,
            directory: format!("https://localhost:{acme_port}/dir"),
            management_port,
            _dir: dir,
        };
        wait_until("pebble to start", Duration::from_secs(20), || {
            pebble.fetch(&pebble.directory).is_some()
        });
        pebble
    }

    fn fetch(&self, url: &str) -> Option<String> {
        let output = Command::new("curl")
            .args(["-sf", "-m", "5", "--cacert"])
            .arg(&self.tls.ca)
            .arg(url)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The root pebble signs with (made anew at each start).
    fn issuing_root(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let pem = self
            .fetch(&format!(
                "https://localhost:{}/roots/0",
                self.management_port
            ))
            .expect("pebble's root");
        let file = dir.join("pebble-root.pem");
        std::fs::write(&file, pem).unwrap();
        file
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `certs` output's expiry line.
fn expiry(server: &TestServer, app: &str) -> String {
    let certs = server.ok(&["certs", "-a", app]);
    certs
        .lines()
        .find(|l| l.starts_with("Expires"))
        .unwrap_or_else(|| panic!("{certs}"))
        .to_string()
}

#[test]
fn certs_auto_gets_a_certificate_from_pebble_and_renews_it() {
    let server = TestServer::start();
    // 30 days and 40 s: due for renewal 40 s after it is issued.
    let pebble = Pebble::start(server.http_port, 30 * 86400 + 40);
    server.install(&[
        "--acme-directory",
        &pebble.directory,
        "--acme-ca",
        &pebble.tls.ca.display().to_string(),
    ]);
    let repo = server.repo("examples/hello", "secured");
    repo.push_ok();
    server.ok(&["domains:add", "www.secured.test", "-a", "secured"]);

    let enabled = server.ok(&["certs:auto:enable", "-a", "secured"]);
    assert!(
        enabled.contains("Certificate for ")
            && enabled.contains("secured.localhost")
            && enabled.contains("www.secured.test")
            && enabled.contains("it renews itself 30 days before it expires"),
        "{enabled}"
    );
    let status = server.ok(&["certs:auto", "-a", "secured"]);
    assert!(
        status.contains("is enabled on secured")
            && status.contains(&pebble.directory)
            && status.contains("Cert issued"),
        "{status}"
    );
    let certs = server.ok(&["certs", "-a", "secured"]);
    assert!(certs.contains("Pebble Intermediate"), "{certs}");

    // A client trusting pebble's root gets the app over HTTPS, for both names.
    let trust = tempfile::tempdir().unwrap();
    let root = pebble.issuing_root(trust.path());
    for host in ["secured.localhost", "www.secured.test"] {
        let resolve = format!("{host}:{}:127.0.0.1", server.https_port);
        let (status, _, body) = server.curl_https(&root, host, "/", &["--resolve", &resolve]);
        assert_eq!(
            (status, body.as_str()),
            (200, "Hello from web.1\n"),
            "{host}"
        );
    }

    // Renewal: once under 30 days remain, the daemon orders a new one.
    let first = expiry(&server, "secured");
    let renewed = wait_for("a renewal", Duration::from_secs(120), || {
        match expiry(&server, "secured") {
            now if now != first => Ok(now),
            _ => Err(format!("still expires {first}")),
        }
    });
    assert!(renewed > first, "{first} → {renewed}");
    let logs = server.ok(&["logs", "-a", "secured", "-d", "router", "-n", "50"]);
    assert_eq!(logs.matches("Certificate issued for").count(), 2, "{logs}");
    let (status, _, _) = server.curl_https(&root, "secured.localhost", "/", &[]);
    assert_eq!(status, 200);

    // A host that does not reach this server fails with the CA's reason,
    // and the current certificate stays.
    server.ok(&["certs:auto:disable", "-a", "secured"]);
    let output = server.cmd(&["certs:auto:refresh", "-a", "secured"]);
    assert!(
        text(&output).contains("does not use automatic certificates"),
        "{}",
        text(&output)
    );
}

#[test]
fn the_dashboard_gets_its_own_certificate_and_sends_plain_http_to_https() {
    let server = TestServer::start();
    let pebble = Pebble::start(server.http_port, 90 * 86400);
    server.install(&[
        "--acme-directory",
        &pebble.directory,
        "--acme-ca",
        &pebble.tls.ca.display().to_string(),
    ]);
    let dashboard = format!("paas.localhost:{}", server.http_port);
    let jar = tempfile::NamedTempFile::new().unwrap();
    // (status and where it redirects, the headers)
    let plain = |path: &str| {
        let output = Command::new("curl")
            .args(["-s", "-m", "10", "-D", "-", "-o", "/dev/null", "-w"])
            .arg("%{http_code} %{redirect_url}")
            .args(["--resolve", &format!("{dashboard}:127.0.0.1")])
            .arg("-b")
            .arg(jar.path())
            .arg("-c")
            .arg(jar.path())
            .arg(format!("http://{dashboard}{path}"))
            .output()
            .unwrap();
        let all = String::from_utf8_lossy(&output.stdout).to_string();
        let (headers, status) = all.rsplit_once("\r\n\r\n").unwrap_or(("", &all));
        (status.to_string(), headers.to_string())
    };

    // No certificate yet: the link is plain HTTP, and says how to get one.
    let before = server.cmd(&["dashboard", "--print-url"]);
    assert!(
        String::from_utf8_lossy(&before.stdout).starts_with("http://paas.localhost:"),
        "{}",
        text(&before)
    );
    assert!(plain("/").0.starts_with("401 "), "{:?}", plain("/"));
    let status = server.ok(&["dashboard:certs:auto"]);
    assert!(status.contains("is disabled for the dashboard"), "{status}");
    // A session made over plain HTTP, in the jar.
    let url = String::from_utf8_lossy(&before.stdout).trim().to_string();
    assert!(plain(&url[url.find("/login/").unwrap()..])
        .0
        .starts_with("303 "));
    let plain_session = cookie_in(jar.path(), "paas_session").expect("a session cookie");

    // An app owner's certificate naming the dashboard's host changes
    // nothing of the dashboard's.
    server.ok(&["apps:create", "claimer"]);
    let claim = TestCertificates::for_hosts(&["claimer.localhost", "paas.localhost"]);
    let added = server.local(&[
        "certs:add",
        claim.cert.to_str().unwrap(),
        claim.key.to_str().unwrap(),
        "-a",
        "claimer",
    ]);
    assert!(added.status.success(), "{}", text(&added));
    assert!(
        plain("/").0.starts_with("200 "),
        "no redirect: {:?}",
        plain("/")
    );
    let link = server.ok(&["dashboard", "--print-url"]);
    assert!(link.starts_with("http://"), "{link}");

    // Only an admin turns it on.
    let bob = server.add_user("bob");
    let refused = server.cmd_with_key(&bob, &["dashboard:certs:auto:enable"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("only an admin"),
        "{}",
        text(&refused)
    );

    // pebble validates `paas.localhost` over HTTP-01 through the router.
    let enabled = server.ok(&["dashboard:certs:auto:enable"]);
    let https_url = format!("https://paas.localhost:{}/", server.https_port);
    assert!(
        enabled.contains("Certificate for paas.localhost until")
            && enabled.contains(&format!("The dashboard is at {https_url}")),
        "{enabled}"
    );
    let status = server.ok(&["dashboard:certs:auto"]);
    assert!(
        status.contains("is enabled for the dashboard")
            && status.contains("Cert issued")
            && status.contains(&https_url),
        "{status}"
    );

    let again = server.ok(&["dashboard:certs:auto:enable"]);
    assert!(
        again.contains("The dashboard already has its certificate"),
        "no second order: {again}"
    );
    let status = server.local(&["server", "status"]);
    assert!(
        String::from_utf8_lossy(&status.stdout)
            .contains(&format!("ok      dashboard: {https_url}")),
        "{}",
        text(&status)
    );

    // A client trusting pebble's root gets the dashboard over HTTPS.
    let trust = tempfile::tempdir().unwrap();
    let root = pebble.issuing_root(trust.path());
    let (status, _, body) = server.curl_https(&root, "paas.localhost", "/", &[]);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Log in to the dashboard"), "{body}");

    // Plain HTTP goes to the same place over HTTPS, and the browser
    // forgets its plain session, which HTTPS does not take.
    let (status, headers) = plain("/apps/x?range=24h");
    assert_eq!(status, format!("308 {https_url}apps/x?range=24h"));
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("set-cookie: paas_session=; max-age=0"),
        "{headers}"
    );
    let planted = format!("Cookie: __Host-paas_session={plain_session}");
    let (status, _, body) = server.curl_https(&root, "paas.localhost", "/", &["-H", &planted]);
    assert_eq!(status, 401, "a plain HTTP session over HTTPS: {body}");

    // The link is HTTPS now, and logs in with a Secure, host-only cookie.
    let url = server.ok(&["dashboard", "--print-url"]);
    let url = url.trim();
    assert!(url.starts_with(&format!("{https_url}login/")), "{url}");
    let path = &url[url.find("/login/").unwrap()..];
    let (status, _, headers) = server.curl_https(&root, "paas.localhost", path, &["-D", "-"]);
    assert_eq!(status, 303, "{headers}");
    let cookie = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {headers}"));
    assert!(
        cookie.contains("__Host-paas_session=") && cookie.contains("Secure"),
        "{cookie}"
    );

    // A daemon restart serves the same certificate from its file.
    assert!(server.local(&["server", "stop"]).status.success());
    assert!(server.local(&["server", "start"]).status.success());
    wait_until(
        "the dashboard over HTTPS again",
        Duration::from_secs(60),
        || server.curl_https(&root, "paas.localhost", "/", &[]).0 == 401,
    );
}
