//! The install and the daemon: idempotent install, status, and dynos that
//! come back after they die.

use std::time::{Duration, Instant};

use crate::harness::{free_port, paas_bin, text, wait_for, wait_until, TestServer};

#[test]
fn a_second_install_changes_nothing_and_says_so() {
    let server = TestServer::start();
    // Without the port options: installing again keeps the install's ports.
    let output = std::process::Command::new(paas_bin())
        .args(["server", "install", "--local", "--root"])
        .arg(server.root.path())
        .args(["--ssh-port", &server.ssh_port.to_string()])
        .arg("--admin-key")
        .arg(server.key().with_extension("pub"))
        .output()
        .unwrap();
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("nothing to change: paas is already installed"),
        "{said}"
    );
    let changes: Vec<&str> = said.lines().filter(|l| l.starts_with("-----> ")).collect();
    assert_eq!(
        changes.len(),
        1,
        "only the summary line, no step that changed something:\n{said}"
    );

    let status = server.local(&["server", "status"]);
    let report = text(&status);
    assert!(status.status.success(), "{report}");
    for part in [
        "disk",
        "programs",
        "user",
        "/dev/net/tun",
        "podman",
        "run image",
        "build image",
        "sshd",
        "daemon",
    ] {
        assert!(
            report.contains(&format!("ok      {part}")),
            "{part}:\n{report}"
        );
    }
    assert!(report.contains("storage overlay"), "{report}");

    // Completions and the man page are where bash, zsh, fish and man look.
    for (path, shell) in [
        ("/usr/local/share/bash-completion/completions/paas", "bash"),
        ("/usr/local/share/zsh/site-functions/_paas", "zsh"),
        (
            "/usr/local/share/fish/vendor_completions.d/paas.fish",
            "fish",
        ),
    ] {
        let generated = std::process::Command::new(paas_bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(
            std::fs::read(path).unwrap_or_default(),
            generated.stdout,
            "{path}"
        );
    }
    let page = std::fs::read_to_string("/usr/local/share/man/man1/paas.1").unwrap();
    assert!(page.contains(".SS \"paas ps:scale\""));
}

#[test]
fn an_install_whose_http_port_is_taken_says_so_at_once_and_leaves_nothing_running() {
    let server = TestServer::not_installed();
    let holder = std::net::TcpListener::bind(("127.0.0.1", server.http_port)).unwrap();
    let started = Instant::now();
    let output = server.try_install(&[]);
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "port {} on 127.0.0.1 is held by another program",
            server.http_port
        )) && said.contains("pick another with `--http-port`"),
        "{said}"
    );
    // Not the 120 s wait for an answer that cannot come.
    assert!(started.elapsed() < Duration::from_secs(60), "{said}");
    // No process of this install is left: no supervisor retrying in the
    // background, no private sshd.
    let root = server.root.path().display().to_string();
    let running = std::process::Command::new("pgrep")
        .args(["-a", "-f", &root])
        .output()
        .unwrap();
    assert!(
        !running.status.success(),
        "left running: {}",
        text(&running)
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.ssh_port)).is_err());

    drop(holder);
    server.install(&[]);
    server.ok(&["apps:create", "porthold"]);
    let apps = server.ok(&["apps"]);
    assert!(apps.contains("porthold"), "{apps}");
}

/// `paas server install` on an existing install, with only `extra` options
/// besides the root and key: the install's own ports unless `extra` names
/// others.
fn install_again(server: &TestServer, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(paas_bin())
        .args(["server", "install", "--local", "--root"])
        .arg(server.root.path())
        .arg("--admin-key")
        .arg(server.key().with_extension("pub"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn installing_again_with_new_ports_moves_the_router_and_sshd_and_keeps_the_apps() {
    let mut server = TestServer::start();
    server.repo("examples/hello", "mover").push_ok();
    let dynos =
        |server: &TestServer| server.podman(&["ps", "--quiet", "--filter", "label=paas.app=mover"]);
    let before = dynos(&server);
    assert_eq!(before.lines().count(), 1, "{before}");
    let (old_http, old_ssh) = (server.http_port, server.ssh_port);
    let (new_http, new_ssh) = (free_port(), free_port());
    let (http, ssh) = (new_http.to_string(), new_ssh.to_string());
    let moving = ["--http-port", http.as_str(), "--ssh-port", ssh.as_str()];

    // A new port another program holds is refused, and nothing changes.
    let holder = std::net::TcpListener::bind(("127.0.0.1", new_http)).unwrap();
    let output = install_again(&server, &moving);
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "port {new_http} on 127.0.0.1 is held by another program"
        )) && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!(server.get("mover", "/").0, 200);
    drop(holder);

    let output = install_again(&server, &moving);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    for change in [
        format!("restarted the daemon to apply: HTTP port {new_http} (was {old_http})"),
        "dynos and add-ons kept running".to_string(),
        format!("restarted, with its new settings, the private sshd on 127.0.0.1:{new_ssh}"),
        format!("http://myapp.localhost:{new_http}/"),
    ] {
        assert!(said.contains(&change), "{change}:\n{said}");
    }
    server.http_port = new_http;
    server.ssh_port = new_ssh;
    // The URL the install printed answers at once; the old ports do not.
    assert_eq!(server.get("mover", "/").0, 200);
    for old in [old_http, old_ssh] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", old)).is_err(),
            "port {old} still answers"
        );
    }
    let ps = server.ok(&["ps", "-a", "mover"]);
    assert!(ps.contains("web.1: up"), "{ps}");
    assert_eq!(dynos(&server), before, "the dyno was not touched");

    // Once more without port options: the install keeps its new ports.
    let output = install_again(&server, &[]);
    let said = text(&output);
    assert!(said.contains("nothing to change"), "{said}");
    assert_eq!(server.get("mover", "/").0, 200);
}

#[test]
fn status_names_what_is_broken_and_the_fix() {
    let server = TestServer::start();
    let stop = server.local(&["server", "stop"]);
    assert!(stop.status.success(), "{}", text(&stop));
    let status = server.local(&["server", "status"]);
    let report = text(&status);
    assert!(!status.status.success(), "{report}");
    assert!(
        report.contains("broken  daemon: the daemon does not answer"),
        "{report}"
    );
    assert!(report.contains("fix: run `paas server start`"), "{report}");
    let start = server.local(&["server", "start"]);
    assert!(start.status.success(), "{}", text(&start));
    assert!(server.local(&["server", "status"]).status.success());
}

#[test]
fn a_killed_dyno_is_brought_back_by_the_daemon() {
    let server = TestServer::start();
    server.repo("examples/hello", "phoenix").push_ok();
    let before = server.containers("phoenix");
    assert_eq!(before.len(), 1, "{before:?}");
    server.podman(&["kill", &before[0]]);
    wait_for("the dyno to come back", Duration::from_secs(30), || {
        let (status, body) = server.get("phoenix", "/");
        let now = server.containers("phoenix");
        match status == 200 && body == "Hello from web.1\n" && now.len() == 1 && now != before {
            true => Ok(()),
            false => Err(format!("{now:?} {status} {body}")),
        }
    });
}

#[test]
fn the_daemon_restarts_and_apps_keep_serving() {
    let server = TestServer::start();
    server.repo("examples/hello", "steady").push_ok();
    let pid: i32 = std::fs::read_to_string(server.root.path().join("run/daemon.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL: the supervisor starts a new daemon, which adopts the running dyno.
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    wait_until("the router to come back", Duration::from_secs(20), || {
        server.get("steady", "/").0 == 200
    });
    assert_eq!(
        server.containers("steady").len(),
        1,
        "the dyno was adopted, not duplicated"
    );
}

#[test]
fn the_daemon_killed_mid_deploy_loses_nothing() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "sturdy");
    repo.push_ok();
    repo.write("Procfile", "web: sleep 2 && exec python3 server.py\n");
    let source = std::fs::read_to_string(repo.dir.path().join("server.py")).unwrap();
    repo.write("server.py", &source.replace(" from ", " again from "));
    repo.commit("slow boot, new greeting");
    let pid_file = server.root.path().join("run/daemon.pid");
    let output = std::thread::scope(|scope| {
        let push = scope.spawn(|| repo.push());
        std::thread::sleep(Duration::from_millis(1000));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let killed = std::process::Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .unwrap();
        assert!(killed.success());
        push.join().unwrap()
    });
    assert!(output.status.success(), "{}", text(&output));
    wait_for(
        "the new release to be served",
        Duration::from_secs(20),
        || match server.get("sturdy", "/") {
            (_, body) if body == "Hello again from web.1\n" => Ok(()),
            answer => Err(format!("{answer:?}")),
        },
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        server.containers("sturdy").len(),
        1,
        "no duplicate dynos after a reconcile pass"
    );
    assert!(server
        .ok(&["releases", "-a", "sturdy"])
        .contains("Current: v2"));

    // Stopping the daemon leaves the dynos running; starting it adopts them.
    let before = server.containers("sturdy");
    assert!(server.local(&["server", "stop"]).status.success());
    assert_ne!(server.get("sturdy", "/").0, 200, "no router while stopped");
    assert!(server.local(&["server", "start"]).status.success());
    assert_eq!(
        server.get("sturdy", "/"),
        (200, "Hello again from web.1\n".to_string())
    );
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        server.containers("sturdy"),
        before,
        "the same dyno, adopted"
    );
}
