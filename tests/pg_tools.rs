//! PostgreSQL from the laptop (#21 point 10): `pg:pull` and `pg:push`
//! between an add-on and a real PostgreSQL on the "laptop" (a throwaway
//! cluster of Debian's `postgresql-15` on a unix socket, driven through the
//! client over SSH), and `pg:ps`, `pg:kill`, `pg:locks`, `pg:outliers` and
//! `pg:diagnose` on queries that really run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::harness::{created_addon, free_port, paas_bin, text, wait_for, wait_until, TestServer};

const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster in a temporary directory, run by `nobody`
/// (PostgreSQL refuses root), reached on a unix socket there with trust
/// authentication as the superuser `tester`.
struct LocalPostgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl LocalPostgres {
    fn start() -> LocalPostgres {
        assert!(
            Path::new(POSTGRES_BIN).join("initdb").exists(),
            "the pg:pull/pg:push tests need PostgreSQL 15's server and client programs \
             (`apt-get install postgresql-15 postgresql-client-15`, as `.ci/run` does)"
        );
        let dir = tempfile::Builder::new()
            .prefix("paas-laptop-pg-")
            .tempdir()
            .unwrap();
        let status = Command::new("chown")
            .args(["nobody"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        // The socket is here: the install's owner reaches it too, when
        // paas is typed on the server.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let local = LocalPostgres {
            dir,
            port: free_port(),
        };
        let data = local.data();
        local.as_nobody(
            "initdb",
            &["-D", data.to_str().unwrap(), "-U", "tester", "--auth=trust"],
        );
        let options = format!(
            "-k {} -p {} -c listen_addresses=''",
            local.dir.path().display(),
            local.port
        );
        let log = local.dir.path().join("log");
        local.as_nobody(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        local
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_nobody(&self, program: &str, args: &[&str]) {
        let output = Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(Path::new(POSTGRES_BIN).join(program))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{program}: {}", text(&output));
    }

    /// Points a command (the laptop's `paas`, `psql`) at this cluster.
    fn env(&self, command: &mut Command) {
        command
            .env("PGHOST", self.dir.path())
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "tester")
            .env_remove("PGDATABASE")
            .env_remove("PGPASSWORD");
    }

    /// Runs SQL in `database` here; the rows, `|`-separated.
    fn psql(&self, database: &str, sql: &str) -> String {
        let mut command = Command::new("psql");
        self.env(&mut command);
        let output = command
            .args([
                "-X",
                "-q",
                "-tA",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                database,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "psql: {}", text(&output));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    fn databases(&self) -> Vec<String> {
        self.psql("postgres", "SELECT datname FROM pg_database")
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(Path::new(POSTGRES_BIN).join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

/// `pg:psql -c SQL`'s rows (unaligned, as psql prints with `-tA` is not
/// offered: the last line holds a single value).
fn psql_on_server(server: &TestServer, app: &str, sql: &str) -> String {
    server.ok(&["pg:psql", "-a", app, "-c", sql])
}

fn count_on_server(server: &TestServer, app: &str) -> String {
    let output = psql_on_server(server, app, "SELECT count(*) AS n FROM notes");
    // psql's aligned table: the header, a rule, the value, `(1 row)`.
    output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no count in:\n{output}"))
        .to_string()
}

fn run(mut command: Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

#[test]
fn pg_pull_and_push_copy_a_database_between_the_laptop_and_an_add_on() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/notes", "notes");
    repo.push_ok();
    let addon = created_addon(&server.ok(&["addons:create", "postgres", "-a", "notes"]));
    psql_on_server(
        &server,
        "notes",
        "CREATE TABLE notes (id serial PRIMARY KEY, body text); \
         INSERT INTO notes (body) SELECT 'from the server ' || g FROM generate_series(1, 7) g;",
    );
    let laptop = LocalPostgres::start();
    let home = tempfile::tempdir().unwrap();
    let client = |args: &[&str]| {
        let mut command = server.client(repo.dir.path(), home.path(), args);
        laptop.env(&mut command);
        run(command)
    };

    // Pulled into a new database here, rows and all.
    let pulled = client(&["pg:pull", "DATABASE_URL", "copy"]);
    assert!(pulled.status.success(), "{}", text(&pulled));
    assert!(
        text(&pulled).contains("Pulling complete."),
        "{}",
        text(&pulled)
    );
    assert_eq!(laptop.psql("copy", "SELECT count(*) FROM notes"), "7");
    assert_eq!(
        laptop.psql("copy", "SELECT body FROM notes WHERE id = 3"),
        "from the server 3"
    );

    // As on Heroku, a pull never writes into a database that is there,
    // and leaves that one alone.
    let again = client(&["pg:pull", &addon, "copy"]);
    assert!(!again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    assert!(text(&again).contains("dropdb copy"), "{}", text(&again));
    assert_eq!(laptop.psql("copy", "SELECT count(*) FROM notes"), "7");

    // A pull the server refuses leaves no empty database behind.
    let refused = client(&["pg:pull", "NOSUCH_URL", "copy2"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("`copy2` was dropped again"),
        "{}",
        text(&refused)
    );
    assert!(!laptop.databases().contains(&"copy2".to_string()));

    // Typed on the server, it uses the server's PostgreSQL (here the same
    // cluster) and reads the add-on's container directly; over SSH the
    // server's PostgreSQL is not the caller's to write to.
    let on_server = |args: &[&str]| {
        let mut command = Command::new(paas_bin());
        command.arg("--root").arg(server.root.path()).args(args);
        laptop.env(&mut command);
        run(command)
    };
    let pulled = on_server(&["pg:pull", "DATABASE_URL", "onserver", "-a", "notes"]);
    assert!(pulled.status.success(), "{}", text(&pulled));
    assert_eq!(laptop.psql("onserver", "SELECT count(*) FROM notes"), "7");
    server.refused(
        &["pg:pull", "DATABASE_URL", "elsewhere", "-a", "notes"],
        "works with the PostgreSQL of the machine it is typed on",
    );

    // A database here, pushed: refused while the add-on holds tables, and
    // the add-on keeps them.
    laptop.psql("postgres", "CREATE DATABASE source");
    laptop.psql(
        "source",
        "CREATE TABLE notes (id serial PRIMARY KEY, body text); \
         INSERT INTO notes (body) SELECT 'from the laptop ' || g FROM generate_series(1, 3) g;",
    );
    let full = client(&["pg:push", "source", "DATABASE_URL"]);
    assert!(!full.status.success(), "{}", text(&full));
    assert!(
        text(&full).contains(&format!("`{addon}` is not empty")),
        "{}",
        text(&full)
    );
    assert!(text(&full).contains("pg:reset"), "{}", text(&full));
    assert_eq!(count_on_server(&server, "notes"), "7");

    // A database that is not here is said before the server is asked.
    let missing = client(&["pg:push", "nosuch", "DATABASE_URL"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("pg_dump could not dump `nosuch`"),
        "{}",
        text(&missing)
    );

    // Emptied, it takes the push; the app reads and writes the rows (they
    // are its user's, not the laptop's).
    server.ok(&["pg:reset", "-a", "notes", "--confirm", "notes"]);
    let pushed = client(&["pg:push", "source", "DATABASE_URL"]);
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert!(
        text(&pushed).contains("Pushing complete."),
        "{}",
        text(&pushed)
    );
    assert_eq!(count_on_server(&server, "notes"), "3");
    let body = psql_on_server(&server, "notes", "SELECT body FROM notes WHERE id = 2");
    assert!(body.contains("from the laptop 2"), "{body}");
    let (code, body) = server.get_with("notes", "/add?n=2", &["-m", "60"]);
    assert_eq!((code, body.trim()), (200, "5"));

    // Typed on the server, a push loads through the add-on's container.
    let full = on_server(&["pg:push", "onserver", "DATABASE_URL", "-a", "notes"]);
    assert!(!full.status.success());
    assert!(text(&full).contains("is not empty"), "{}", text(&full));
    server.ok(&["pg:reset", "-a", "notes", "--confirm", "notes"]);
    let pushed = on_server(&["pg:push", "onserver", "DATABASE_URL", "-a", "notes"]);
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert_eq!(count_on_server(&server, "notes"), "7");
}

/// Quotes a word for the server's command parser, as a shell user would.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A `pg:psql -c SQL` left running over SSH, ended when dropped.
struct Background(Child);

impl Background {
    fn start(server: &TestServer, app: &str, sql: &str) -> Background {
        let words: Vec<String> = ["pg:psql", "-a", app, "-c", sql]
            .iter()
            .map(|w| quote(w))
            .collect();
        let child = server
            .ssh_process(false, &[&words.join(" ")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Background(child)
    }

    /// Its output once it ends, within `within`.
    fn finish(mut self, within: Duration) -> (bool, String) {
        wait_until("the query to end", within, || {
            self.0.try_wait().unwrap().is_some()
        });
        let child = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap());
        let output = child.wait_with_output().unwrap();
        (output.status.success(), text(&output))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pid `pg:ps` shows on the line with `query`, once it shows one.
fn pid_running(server: &TestServer, app: &str, query: &str) -> String {
    wait_for(
        &format!("`{query}` in `pg:ps`"),
        Duration::from_secs(60),
        || {
            let listed = server.ok(&["pg:ps", "-a", app]);
            match listed.lines().find(|l| l.contains(query)) {
                Some(line) => Ok(line.split_whitespace().next().unwrap().to_string()),
                None => Err(listed),
            }
        },
    )
}

#[test]
fn pg_ps_locks_kill_outliers_and_diagnose_show_what_the_database_does() {
    let server = TestServer::start();
    server.ok(&["apps:create", "stats"]);
    server.ok(&["addons:create", "postgres", "-a", "stats"]);
    psql_on_server(
        &server,
        "stats",
        "CREATE TABLE t (n int, tag text); CREATE INDEX t_tag ON t (tag); \
         INSERT INTO t SELECT g, 'x' FROM generate_series(1, 100) g;",
    );
    assert_eq!(
        server.ok(&["pg:ps", "-a", "stats"]).trim(),
        "No queries are running."
    );

    // One query holds a lock and sleeps; another waits for it.
    let holder = Background::start(
        &server,
        "stats",
        "BEGIN; LOCK TABLE t; SELECT pg_sleep(300); COMMIT;",
    );
    let holder_pid = pid_running(&server, "stats", "pg_sleep(300)");
    let waiter = Background::start(&server, "stats", "SELECT count(*) FROM t WHERE n > 50");
    let waiter_pid = pid_running(&server, "stats", "FROM t WHERE n > 50");
    // The waiter waits for a lock; the sleeper does not.
    let listed = server.ok(&["pg:ps", "-a", "stats"]);
    let waiting = |pid: &str| {
        let header = listed.lines().find(|l| l.starts_with("pid")).unwrap();
        let at = header.find("waiting").unwrap();
        let row = listed.lines().find(|l| l.starts_with(pid)).unwrap();
        row[at..].starts_with('t')
    };
    assert!(waiting(&waiter_pid), "{listed}");
    assert!(!waiting(&holder_pid), "{listed}");

    let locks = server.ok(&["pg:locks", "-a", "stats", "--truncate"]);
    let held = locks
        .lines()
        .find(|l| l.starts_with(&holder_pid) && l.contains("AccessExclusiveLock"))
        .unwrap_or_else(|| panic!("no table lock of {holder_pid}:\n{locks}"));
    assert!(held.contains("LOCK TABLE t; SELECT pg_sle"), "{locks}");
    assert!(
        held.contains('…') && !held.contains("COMMIT"),
        "cut: {locks}"
    );

    let report = server.ok(&["pg:diagnose", "-a", "stats"]);
    assert!(report.contains("RED: Blocking Queries"), "{report}");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with(&waiter_pid) && l.contains(&holder_pid)),
        "the blocked and the blocking process:\n{report}"
    );
    assert!(report.contains("YELLOW: Unused Indexes"), "{report}");
    assert!(report.contains("t_tag"), "{report}");
    assert!(report.contains("GREEN: Connection Count"), "{report}");
    assert!(report.contains("GREEN: Statement Statistics"), "{report}");
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["pg:diagnose", "-a", "stats", "--json"])).unwrap();
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks[0]["status"], "red", "{json}");
    assert_eq!(checks.len(), 8, "{json}");

    // Cancelled, the holder's transaction ends and the waiter gets its turn.
    let refused = server.cmd(&["pg:kill", "999999", "-a", "stats"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("has no connection with process id 999999"),
        "{}",
        text(&refused)
    );
    server.ok(&["pg:kill", &holder_pid, "-a", "stats"]);
    let (ok, output) = holder.finish(Duration::from_secs(30));
    assert!(
        !ok && output.contains("canceling statement due to user request"),
        "{output}"
    );
    let (ok, output) = waiter.finish(Duration::from_secs(30));
    assert!(ok && output.contains("50"), "{output}");
    let report = server.ok(&["pg:diagnose", "-a", "stats"]);
    assert!(report.contains("GREEN: Blocking Queries"), "{report}");

    // `--force` ends the connection itself.
    let idle = Background::start(&server, "stats", "SELECT pg_sleep(301)");
    let idle_pid = pid_running(&server, "stats", "pg_sleep(301)");
    server.ok(&["pg:kill", "--force", &idle_pid, "-a", "stats"]);
    let (ok, output) = idle.finish(Duration::from_secs(30));
    assert!(!ok && output.contains("terminating connection"), "{output}");

    // The slowest statement of the app's tops the list (a wait for a lock
    // is not execution time); each statement once, its constants as `$n`.
    psql_on_server(&server, "stats", "SELECT pg_sleep(0.5)");
    let outliers = server.ok(&["pg:outliers", "-a", "stats", "-n", "3"]);
    let lines: Vec<&str> = outliers.lines().collect();
    assert!(lines[0].starts_with("total_exec_time"), "{outliers}");
    assert!(lines[1].ends_with("SELECT pg_sleep($1)"), "{outliers}");
    assert_eq!(lines.len(), 4, "{outliers}");
    let all = server.ok(&["pg:outliers", "-a", "stats", "-n", "50"]);
    assert!(all.contains("SELECT count(*) FROM t WHERE n > $1"), "{all}");
    server.ok(&["pg:outliers", "--reset", "-a", "stats"]);
    assert_eq!(
        server.ok(&["pg:outliers", "-a", "stats"]).trim(),
        "No statements recorded yet."
    );
}
