//! Add-ons (issue #4): real PostgreSQL 15 and Redis 7 in rootless podman,
//! driven over SSH, with a pushed app (tests/apps/notes) that counts its
//! rows through `DATABASE_URL` and keeps keys through `REDIS_URL`.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{created_addon, text, wait_for, TestServer};

/// The container of an add-on, from podman's list.
fn container_of(server: &TestServer, addon: &str) -> String {
    server
        .podman(&["ps", "--all", "--format", "{{.Names}}"])
        .lines()
        .find(|n| n.ends_with(&format!("addon-{addon}")))
        .unwrap_or_else(|| panic!("no container for {addon}"))
        .to_string()
}

fn count(server: &TestServer, app: &str) -> String {
    let (code, body) = server.get_when_200(app, "/count", Duration::from_secs(30));
    assert_eq!(code, 200, "{body}");
    body
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A request that writes (it cannot be retried): a generous timeout, for
/// a database's first commits on a loaded machine.
fn write(server: &TestServer, app: &str, path: &str) -> (u16, String) {
    server.get_with(app, path, &["-m", "60"])
}

/// Serves a directory over HTTP on loopback (a backup "at a URL").
struct FileServer {
    dir: tempfile::TempDir,
    port: u16,
    child: std::process::Child,
}

impl FileServer {
    fn start() -> FileServer {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for("file server listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .map(drop)
                .map_err(|err| err.to_string())
        });
        FileServer { dir, port, child }
    }

    fn url(&self, name: &str, content: &[u8]) -> String {
        std::fs::write(self.dir.path().join(name), content).unwrap();
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn data_outlives_deploys_restarts_rollbacks_kills_and_daemon_restarts() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/notes", "notes");
    repo.push_ok();

    let output = server.ok(&["addons:create", "postgres", "-a", "notes"]);
    let postgres = created_addon(&output);
    assert!(postgres.starts_with("postgres-"), "{output}");
    assert!(output.contains("PostgreSQL 15."), "{output}");
    // (the daemon's repair may hold the app a moment: "waiting for…" between)
    assert!(
        output.contains(&format!("Attaching {postgres} as DATABASE_URL to notes...")),
        "{output}"
    );
    assert!(output.trim_end().ends_with("done, v2"), "{output}");
    let output = server.ok(&["addons:create", "heroku-redis", "-a", "notes"]);
    let redis = created_addon(&output);
    assert!(output.contains("as REDIS_URL to notes..."), "{output}");
    assert!(output.trim_end().ends_with("done, v3"), "{output}");
    let releases = server.ok(&["releases", "-a", "notes"]);
    assert!(
        releases.contains(&format!("Attach DATABASE ({postgres})")),
        "{releases}"
    );
    let listed = server.ok(&["addons", "-a", "notes"]);
    assert!(
        listed.contains(&postgres) && listed.contains("DATABASE_URL"),
        "{listed}"
    );
    assert!(
        listed.contains(&redis) && listed.contains("REDIS_URL"),
        "{listed}"
    );

    assert_eq!(write(&server, "notes", "/add?n=100"), (200, "100\n".into()));
    assert_eq!(write(&server, "notes", "/set?key=colour&value=teal").0, 200);

    // A redeploy, a restart and a rollback to before the add-ons existed.
    repo.write("CHANGES", "a change\n");
    repo.commit("a change");
    repo.push_ok();
    assert_eq!(count(&server, "notes"), "100");
    server.ok(&["ps:restart", "-a", "notes"]);
    assert_eq!(count(&server, "notes"), "100");
    let output = server.ok(&["releases:rollback", "v1", "-a", "notes"]);
    assert!(output.contains("Rolling back notes to v1"), "{output}");
    assert_eq!(
        count(&server, "notes"),
        "100",
        "a rollback keeps the add-ons"
    );
    assert_eq!(server.get("notes", "/get?key=colour").1, "teal\n");

    // A killed database is started again by the daemon.
    let container = container_of(&server, &postgres);
    server.podman(&["kill", &container]);
    let (code, body) = server.get_when_200("notes", "/count", Duration::from_secs(60));
    assert_eq!((code, body.as_str()), (200, "100"), "after a kill");

    // Stopping the platform shuts the database down cleanly; starting it
    // brings the add-ons back before the router takes requests.
    let stop = server.local(&["server", "stop"]);
    assert!(stop.status.success(), "{}", text(&stop));
    let state = server.podman(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        &container,
    ]);
    assert_eq!(
        state.lines().last().unwrap_or_default().trim(),
        "exited 0",
        "{state}"
    );
    let log = server.podman(&["logs", "--tail", "5", &container]);
    assert!(log.contains("database system is shut down"), "{log}");
    let start = server.local(&["server", "start"]);
    assert!(start.status.success(), "{}", text(&start));
    assert_eq!(
        server.get("notes", "/count"),
        (200, "100\n".into()),
        "the first request after a start finds the database"
    );
    assert_eq!(server.get("notes", "/get?key=colour").1, "teal\n");

    let output = server.ok(&[
        "pg:psql",
        "-a",
        "notes",
        "-c",
        "SELECT count(*) AS rows FROM notes",
    ]);
    assert!(output.contains("100"), "{output}");
    // Interactive, on a terminal over SSH, as a person types.
    let mut psql = server
        .ssh_process(true, &["pg:psql", "-a", "notes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = psql.id() as i32;
    std::thread::spawn(move || {
        // A psql waiting for a key would hang the test: end it instead.
        std::thread::sleep(Duration::from_secs(60));
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut stdin = psql.stdin.take().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    stdin
        .write_all(b"SELECT 'tty-' || count(*) FROM notes;\n\\q\n")
        .unwrap();
    let mut seen = String::new();
    psql.stdout
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    assert!(psql.wait().unwrap().success(), "{seen}");
    assert!(seen.contains("tty-100"), "{seen}");
    assert!(seen.contains("=>"), "psql prompts on a terminal:\n{seen}");
    let info = server.ok(&["pg:info", "-a", "notes"]);
    assert!(info.contains("Tables:      1"), "{info}");
    assert!(info.contains("PG Version:  15."), "{info}");
    let info = server.ok(&["redis:info", "-a", "notes"]);
    assert!(info.contains("Version:     7."), "{info}");
    assert_eq!(
        server
            .ok(&["redis:cli", "-a", "notes", "-c", "GET colour"])
            .trim(),
        "teal"
    );
    server.ok(&["redis:cli", "-a", "notes", "-c", "SET motto \"two words\""]);
    assert_eq!(server.get("notes", "/get?key=motto").1, "two words\n");

    // Exposed on the server's loopback, for a tunnel: Redis answers there
    // with its password; unexposed, the port is closed again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = server.ok(&["addons:expose", &redis, "--port", &port.to_string()]);
    assert!(output.contains(&format!("127.0.0.1:{port}")), "{output}");
    let url = server.ok(&["config:get", "-a", "notes", "REDIS_URL"]);
    let password = url
        .trim()
        .rsplit_once('@')
        .and_then(|(creds, _)| creds.rsplit_once(':'))
        .map(|(_, password)| password.to_string())
        .expect("a password in REDIS_URL");
    let ping = || -> String {
        use std::io::{Read as _, Write as _};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return "refused".into();
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(format!("AUTH {password}\r\nGET colour\r\n").as_bytes());
        let mut answer = vec![0u8; 64];
        let n = stream.read(&mut answer).unwrap_or(0);
        let mut text = String::from_utf8_lossy(&answer[..n]).to_string();
        if !text.contains("teal") {
            let n = stream.read(&mut answer).unwrap_or(0);
            text.push_str(&String::from_utf8_lossy(&answer[..n]));
        }
        text
    };
    assert!(ping().contains("teal"), "{}", ping());
    server.ok(&["addons:unexpose", &redis]);
    assert!(!ping().contains("teal"));
    assert_eq!(
        server.get("notes", "/get?key=colour").1,
        "teal\n",
        "the app still reaches it"
    );
}

#[test]
fn backups_restore_the_same_rows_and_rotation_keeps_the_app_working() {
    // The dumps' file server listens on 127.0.0.1, inside the server's network.
    let server = TestServer::start_allowing_private_urls();
    let repo = server.repo("tests/apps/notes", "notes");
    repo.push_ok();
    let output = server.ok(&["addons:create", "postgres", "-a", "notes"]);
    let postgres = created_addon(&output);
    assert_eq!(write(&server, "notes", "/add?n=50"), (200, "50\n".into()));

    let output = server.ok(&["pg:backups:capture", "-a", "notes"]);
    assert!(output.contains("b001: "), "{output}");
    let output = server.cmd(&["pg:reset", "-a", "notes"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("--confirm notes"),
        "{}",
        text(&output)
    );
    server.ok(&["pg:reset", "-a", "notes", "--confirm", "notes"]);
    assert_eq!(count(&server, "notes"), "0");
    server.ok(&[
        "pg:backups:restore",
        "b001",
        "-a",
        "notes",
        "--confirm",
        "notes",
    ]);
    assert_eq!(
        count(&server, "notes"),
        "50",
        "the restore gives the rows back"
    );

    // The download is the server's file, byte for byte.
    let download = server.cmd(&["pg:backups:download", "b001", "-a", "notes"]);
    assert!(download.status.success(), "{}", text(&download));
    let sha = server.backup_sha256("notes", Some("b001"));
    assert_eq!(
        hex_sha256(&download.stdout),
        sha,
        "downloaded {} bytes",
        download.stdout.len()
    );

    // From a URL the server downloads; a corrupt dump changes nothing.
    let files = FileServer::start();
    let good = files.url("good.dump", &download.stdout);
    let bad = files.url("bad.dump", b"PGDMP but not really a dump");
    assert_eq!(write(&server, "notes", "/add?n=10").1, "60\n");
    let output = server.cmd(&[
        "pg:backups:restore",
        &bad,
        "-a",
        "notes",
        "--confirm",
        "notes",
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("not a dump pg_restore can read"),
        "{}",
        text(&output)
    );
    assert_eq!(
        count(&server, "notes"),
        "60",
        "a failed restore leaves the data"
    );
    server.ok(&[
        "pg:backups:restore",
        &good,
        "-a",
        "notes",
        "--confirm",
        "notes",
    ]);
    assert_eq!(count(&server, "notes"), "50");

    // A new password reaches the app in a release; the old one stops working.
    let before = server.ok(&["pg:credentials", "-a", "notes"]);
    let output = server.ok(&["pg:credentials:rotate", "-a", "notes", "--confirm", "notes"]);
    assert!(
        output.contains("Updating DATABASE_URL on notes"),
        "{output}"
    );
    let after = server.ok(&["pg:credentials", "-a", "notes"]);
    assert_ne!(before, after);
    assert_eq!(
        count(&server, "notes"),
        "50",
        "the app works with the new password"
    );
    let password = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("postgres://"))
        .and_then(|rest| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, password)| password.to_string())
        .expect("a URL with a password");
    let releases = server.ok(&["releases", "-a", "notes"]);
    assert!(releases.contains("credential rotation"), "{releases}");
    assert!(!releases.contains(&password), "{releases}");
    let credentials = server
        .root
        .path()
        .join(format!("addons/{postgres}/credentials.toml"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&credentials).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // A schedule whose time has passed today takes its backup.
    let now = time::OffsetDateTime::now_utc();
    let minutes = (u32::from(now.hour()) * 60 + u32::from(now.minute())).saturating_sub(1);
    let at = format!("{:02}:{:02}", minutes / 60, minutes % 60);
    server.ok(&["pg:backups:schedule", "-a", "notes", "--at", &at]);
    // The daemon looks every 5 s; a loaded machine may take a few passes.
    let listed = wait_for("scheduled backup", Duration::from_secs(120), || {
        let listed = server.ok(&["pg:backups", "-a", "notes"]);
        if listed.contains("scheduled") {
            Ok(listed)
        } else {
            Err(listed)
        }
    });
    assert!(listed.contains(&format!("Daily at {at} UTC")), "{listed}");
}

#[test]
fn add_ons_are_shared_and_bad_requests_are_refused() {
    let server = TestServer::start();
    let notes = server.repo("tests/apps/notes", "notes");
    notes.push_ok();
    let other = server.repo("tests/apps/notes", "other");
    other.push_ok();
    let postgres = created_addon(&server.ok(&["addons:create", "postgres", "-a", "notes"]));
    assert_eq!(write(&server, "notes", "/add?n=7").1, "7\n");

    // Shared: the other app sees the same rows under its own name.
    server.ok(&["addons:attach", &postgres, "-a", "other", "--as", "SHARED"]);
    assert_eq!(
        server.get("other", "/count?var=SHARED_URL"),
        (200, "7\n".into())
    );
    let info = server.ok(&["addons:info", &postgres]);
    assert!(info.contains("notes as DATABASE_URL"), "{info}");
    assert!(info.contains("other as SHARED_URL"), "{info}");
    // `server status` shows what its data takes, and who it serves.
    let status = text(&server.local(&["server", "status"]));
    let row = status
        .lines()
        .find(|l| l.starts_with(&format!("{postgres} ")))
        .unwrap_or_else(|| panic!("no row for {postgres}:\n{status}"));
    assert!(
        status.contains("disk use by add-on:")
            && row.contains(" MB")
            && row.contains("notes::DATABASE_URL, other::SHARED_URL"),
        "{status}"
    );
    // The database is on its own network and those of the attached apps,
    // no other; an app that is not attached cannot log in to it, even by
    // address and with the password: neither one without add-ons (podman's
    // default network) nor one with an add-on of its own (a bridge routed
    // to the others inside the rootless network namespace).
    let networks = server.podman(&[
        "inspect",
        "--format",
        "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
        &container_of(&server, &postgres),
    ]);
    let mut networks: Vec<&str> = networks.split_whitespace().collect();
    networks.sort();
    let id = container_of(&server, &postgres)
        .split('-')
        .nth(1)
        .unwrap()
        .to_string();
    let mut expected = vec![
        container_of(&server, &postgres),
        format!("paas-{id}-app-notes"),
        format!("paas-{id}-app-other"),
    ];
    expected.sort();
    assert_eq!(networks, expected);
    let lonely = server.repo("tests/apps/notes", "lonely");
    lonely.push_ok();
    let plain = server.repo("tests/apps/notes", "plain");
    plain.push_ok();
    server.ok(&["addons:create", "redis", "-a", "lonely"]);
    let hosts = server.ok(&["run", "-a", "notes", "getent", "hosts", &postgres]);
    let address = hosts
        .lines()
        .find(|l| l.starts_with("10.") && l.contains(&postgres))
        .and_then(|l| l.split_whitespace().next())
        .expect("the add-on in /etc/hosts")
        .to_string();
    // A real login with the right password (a TCP connect proves nothing:
    // outbound connections from podman's default network may be proxied).
    let url = server
        .ok(&["config:get", "-a", "notes", "DATABASE_URL"])
        .trim()
        .replace(&format!("@{postgres}:"), &format!("@{address}:"));
    let probe = format!(
        "python -c \"import pg8000.native, urllib.parse as u; p = u.urlparse('{url}'); \
         pg8000.native.Connection(p.username, host=p.hostname, port=p.port, database=p.path[1:], \
         password=p.password, timeout=5).run('select 1'); print('OPEN')\" 2>/dev/null || echo CLOSED"
    );
    let answer = |app: &str| {
        if server.one_off_says_open(app, &probe) {
            "OPEN"
        } else {
            "CLOSED"
        }
    };
    assert_eq!(answer("notes"), "OPEN", "an attached app reaches it");
    assert_eq!(answer("plain"), "CLOSED", "an app without add-ons does not");
    assert_eq!(
        answer("lonely"),
        "CLOSED",
        "an app with an add-on of its own does not"
    );

    // Bad requests: clear errors, nothing changed.
    let refused = |args: &[&str], expected: &str| server.refused(args, expected);
    refused(
        &["addons:create", "mysql", "-a", "notes"],
        "`mysql` is not an add-on service",
    );
    refused(
        &[
            "addons:create",
            "postgres",
            "-a",
            "notes",
            "--as",
            "DATABASE",
        ],
        "already has",
    );
    refused(
        &[
            "config:set",
            "-a",
            "notes",
            "DATABASE_URL=postgres://elsewhere",
        ],
        "is set by the add-on",
    );
    refused(&["addons:destroy", &postgres], "--confirm notes");
    refused(
        &["addons:destroy", &postgres, "--confirm", "notes"],
        "still attached to other as SHARED_URL",
    );
    refused(&["addons:info", "postgres-none-1"], "does not exist");
    refused(&["pg:info", "-a", "lonely"], "has no PostgreSQL add-on");
    refused(
        &["pg:reset", &postgres, "-a", "lonely", "--confirm", "lonely"],
        "is not attached to `lonely`",
    );
    assert_eq!(server.get("other", "/count?var=SHARED_URL").1, "7\n");

    // Detach keeps the data; destroy removes it and detaches everywhere.
    let output = server.ok(&["addons:detach", "SHARED_URL", "-a", "other"]);
    assert!(output.contains("Detaching SHARED_URL"), "{output}");
    assert!(!server.ok(&["config", "-a", "other"]).contains("SHARED_URL"));
    server.ok(&["addons:attach", &postgres, "-a", "other"]);
    let output = server.ok(&["addons:destroy", &postgres, "--confirm", "notes", "--force"]);
    assert!(output.contains("Detaching DATABASE_URL"), "{output}");
    assert!(!server
        .ok(&["config", "-a", "notes"])
        .contains("DATABASE_URL"));
    assert!(!server
        .ok(&["config", "-a", "other"])
        .contains("DATABASE_URL"));
    assert!(!server.podman(&["ps", "-a"]).contains(&postgres));
    assert!(!server.podman(&["volume", "ls"]).contains(&postgres));
    assert!(!server.ok(&["addons"]).contains(&postgres));
}
