//! Recovery after every process of the install's owner is killed without a
//! reboot (the OOM killer, `pkill -u`, the end of a login session): podman's
//! state still lists running containers whose processes are gone, and every
//! podman command fails until it is reset.
//!
//! Its own test binary: cargo runs test binaries one at a time, so killing
//! the owner's processes here never touches another test's install.

#[allow(dead_code)]
mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{paas_bin, text, TestServer};

fn kill_every_process_of(user: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        // Again each time: a process forked during the last round survives it.
        let _ = Command::new("pkill").args(["-9", "-u", user]).status();
        let alive = Command::new("pgrep").args(["-u", user]).output().unwrap();
        if alive.stdout.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("processes of `{user}` outlived SIGKILL");
}

/// As `kill_every_process_of`, sparing podman's pause process: podman then
/// still works, and its state says the killed dynos run.
fn kill_every_process_but_podmans_of(user: &str) {
    let uid = text(&Command::new("id").args(["-u", user]).output().unwrap())
        .trim()
        .to_string();
    let pause = std::fs::read_to_string(format!("/run/user/{uid}/libpod/tmp/pause.pid"))
        .expect("podman's pause process runs")
        .trim()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let listed = Command::new("pgrep").args(["-u", user]).output().unwrap();
        let others: Vec<String> = String::from_utf8_lossy(&listed.stdout)
            .split_whitespace()
            .filter(|pid| *pid != pause)
            .map(String::from)
            .collect();
        if others.is_empty() {
            return;
        }
        let _ = Command::new("kill").arg("-9").args(&others).status();
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("processes of `{user}` outlived SIGKILL");
}

#[test]
fn the_platform_comes_back_after_every_process_of_its_owner_is_killed() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "hello");
    repo.push_ok();
    assert_eq!(server.get("hello", "/").0, 200);

    // Every process killed but podman's pause process: podman still says
    // the dyno runs. The daemon, started again, sees its process is gone
    // and replaces it at once.
    kill_every_process_but_podmans_of("paas");
    let believed = server.podman(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert!(
        believed.contains("-web.1-") && believed.contains(" Up "),
        "podman should still believe the dyno runs:\n{believed}"
    );
    let status = server.local(&["server", "status"]);
    assert!(
        text(&status).contains("1 dyno podman says is running is gone"),
        "{}",
        text(&status)
    );
    let started = Instant::now();
    let start = server.local(&["server", "start"]);
    assert!(start.status.success(), "{}", text(&start));
    let answer = server.get_when_200("hello", "/", Duration::from_secs(10));
    assert_eq!(
        answer.0,
        200,
        "the app did not answer within 10 s of `server start` ({:?}): {}",
        started.elapsed(),
        answer.1
    );

    // The daemon, started again, resets podman's state and brings the dyno back.
    kill_every_process_of("paas");
    let broken = server.podman(&["ps"]);
    assert!(
        broken.contains("invalid internal status"),
        "podman should be left in the stale state this test is about:\n{broken}"
    );
    let start = Command::new(paas_bin())
        .arg("--root")
        .arg(server.root.path())
        .args(["server", "start"])
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", text(&start));
    let answer = server.get_when_200("hello", "/", Duration::from_secs(120));
    assert_eq!(answer.0, 200, "the app did not come back: {}", answer.1);

    // The installer, run again, says what it reset and leaves a working platform.
    kill_every_process_of("paas");
    let install = Command::new(paas_bin())
        .args(["server", "install", "--local", "--root"])
        .arg(server.root.path())
        .args(["--ssh-port", &server.ssh_port.to_string()])
        .args(["--http-port", &server.http_port.to_string()])
        .output()
        .unwrap();
    let output = text(&install);
    assert!(install.status.success(), "{output}");
    assert!(output.contains("reset podman's state"), "{output}");
    let answer = server.get_when_200("hello", "/", Duration::from_secs(120));
    assert_eq!(answer.0, 200, "the app did not come back: {}", answer.1);
    assert!(!server.podman(&["ps"]).contains("invalid internal status"));
}
