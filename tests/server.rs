//! The install and the daemon: idempotent install, status, and dynos that
//! come back after they die.

use std::time::{Duration, Instant};

use crate::harness::{paas_bin, text, TestServer};

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
fn an_install_whose_http_port_is_taken_says_so_at_once_and_the_next_one_works() {
    let server = TestServer::not_installed();
    let holder = std::net::TcpListener::bind(("0.0.0.0", server.http_port)).unwrap();
    let started = Instant::now();
    let output = server.try_install(&[]);
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains(&format!("cannot listen on port {}", server.http_port))
            && said.contains("another program holds that port"),
        "{said}"
    );
    // Not the 120 s wait for an answer that cannot come.
    assert!(started.elapsed() < Duration::from_secs(60), "{said}");
    // Nothing keeps retrying in the background.
    let supervisor = format!("{} server supervise", server.root.path().display());
    let running = std::process::Command::new("pgrep")
        .args(["-f", &supervisor])
        .output()
        .unwrap();
    assert!(!running.status.success(), "a supervisor is left running");

    drop(holder);
    server.install(&[]);
    server.ok(&["apps:create", "porthold"]);
    let apps = server.ok(&["apps"]);
    assert!(apps.contains("porthold"), "{apps}");
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
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = server.get("phoenix", "/");
        let now = server.containers("phoenix");
        if status == 200 && body == "Hello from web.1\n" && now.len() == 1 && now != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dyno did not come back: {now:?} {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get("steady", "/").0 != 200 {
        assert!(Instant::now() < deadline, "the router did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get("sturdy", "/").1 != "Hello again from web.1\n" {
        assert!(
            Instant::now() < deadline,
            "the new release was not served: {:?}",
            server.get("sturdy", "/")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
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
