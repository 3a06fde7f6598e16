//! Failure keeps what works: a failed build or a release that does not boot
//! rejects the push and leaves the running release serving.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{poll, text, TestServer};

#[test]
fn broken_build_keeps_the_old_release_and_the_same_commit_rebuilds() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "sturdy");
    repo.push_ok();
    let good = repo.head();

    repo.write("Procfile", "this line is not a process type\n");
    repo.commit("break the Procfile");
    let broken = repo.head();
    let output = repo.push();
    let said = text(&output);
    assert!(!output.status.success(), "the push is rejected:\n{said}");
    assert!(
        said.contains("Procfile line 1: expected `type: command`"),
        "{said}"
    );
    assert!(said.contains("pre-receive hook declined"), "{said}");
    assert_eq!(
        server.get("sturdy", "/"),
        (200, "Hello from web.1\n".to_string())
    );

    // The branch on the server still points at the deployed commit...
    let remote = text(&repo.git(&["ls-remote", "deploy", "refs/heads/master"]));
    assert!(remote.starts_with(&good), "{remote}");
    // ...so pushing the same commit again builds it again instead of "Everything up-to-date".
    let again = text(&repo.push());
    assert!(
        again.contains(&format!("Building sturdy ({})", &broken[..7])),
        "{again}"
    );

    // With no Procfile, a lone server.py is no language paas knows: the
    // push says so and what would make it buildable.
    repo.git(&["rm", "-q", "Procfile"]);
    repo.commit("no Procfile");
    let refused = repo.push_refused();
    for expected in [
        " !     No buildpack detected this app.",
        "Add a Procfile, or the files of a supported language (requirements.txt, package.json",
        "`paas buildpacks:set`",
        "no buildpack could build this app",
    ] {
        assert!(refused.contains(expected), "{expected}:\n{refused}");
    }
    assert_eq!(
        server.get("sturdy", "/"),
        (200, "Hello from web.1\n".to_string())
    );

    repo.write("Procfile", "web: python3 server.py\n");
    repo.commit("fix the Procfile");
    repo.push_ok();
    let releases = server.ok(&["releases", "-a", "sturdy"]);
    assert!(
        releases.contains("Current: v2"),
        "failed builds record no release:\n{releases}"
    );

    // Every push that built is listed, newest first, failed ones too, with
    // what it printed.
    let listed = server.cmd(&["builds", "-a", "sturdy", "--json"]);
    let builds: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let statuses: Vec<&str> = builds
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["succeeded", "failed", "failed", "failed", "succeeded"]
    );
    assert_eq!(builds[0]["release"], 2);
    for build in builds.as_array().unwrap() {
        let seconds = build["seconds"].as_f64().unwrap_or(0.0);
        assert!(seconds > 0.0 && seconds < 300.0, "{build}");
    }
    assert_eq!(builds[2]["commit"], broken.as_str());
    assert_eq!(builds[1]["user"], "admin");
    let output = server.ok(&["builds:output", "2", "-a", "sturdy"]);
    assert!(output.contains("Building sturdy"), "{output}");
    assert!(
        output.contains("Procfile line 1: expected `type: command`"),
        "{output}"
    );
    let table = server.ok(&["builds", "-a", "sturdy"]);
    let newest = table.lines().find(|l| l.contains("#5")).unwrap_or_default();
    assert!(newest.contains("#5  succeeded"), "{table}");
    // Its duration, like `2.3s`.
    assert!(
        newest
            .split_whitespace()
            .any(|w| w.ends_with('s') && w.trim_end_matches('s').parse::<f64>().is_ok()),
        "{table}"
    );
}

#[test]
fn a_release_that_crashes_on_boot_is_rejected_and_the_old_one_serves() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "crashy");
    repo.push_ok();
    repo.write("Procfile", "web: python3 -c 'raise SystemExit(3)'\n");
    repo.commit("crash on boot");
    let output = repo.push();
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("web.1 of `crashy` crashed while starting (exit status 3)"),
        "{said}"
    );
    assert_eq!(
        server.get("crashy", "/"),
        (200, "Hello from web.1\n".to_string())
    );
    let ps = server.ok(&["ps", "-a", "crashy"]);
    assert!(ps.contains("web.1: up"), "{ps}");
    assert!(server
        .ok(&["releases", "-a", "crashy"])
        .contains("Current: v1"));
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let server = TestServer::start();
    server.repo("examples/hello", "careful").push_ok();
    let cases: &[(&[&str], &str)] = &[
        (
            &["config:set", "-a", "careful", "1BAD=x"],
            "config var name `1BAD`",
        ),
        (
            &["config:set", "-a", "careful", "NOEQUALS"],
            "`NOEQUALS` is not `KEY=value`",
        ),
        (
            &["ps:scale", "-a", "careful", "web=lots"],
            "`lots` is not a dyno count",
        ),
        (
            &["ps:scale", "-a", "careful", "clock=1"],
            "has no process type `clock`",
        ),
        (
            &["releases:rollback", "-a", "careful", "v9"],
            "has no release v9",
        ),
        (&["ps", "-a", "nope"], "app `nope` does not exist"),
        (
            &["ps", "-a", "Bad_Name"],
            "app name `Bad_Name` must start with a lowercase letter",
        ),
        (
            &["apps:destroy", "-a", "careful"],
            "confirm with `paas apps:destroy -a careful --confirm careful`",
        ),
        (&["frobnicate"], "`frobnicate` is not a paas command"),
        (
            &["confg:set", "-a", "careful", "A=1"],
            "did you mean `config:set`?",
        ),
    ];
    for (args, expected) in cases {
        let output = server.cmd(args);
        assert!(!output.status.success(), "`{}` should fail", args.join(" "));
        assert!(
            text(&output).contains(expected),
            "`{}`:\n{}",
            args.join(" "),
            text(&output)
        );
    }
    assert_eq!(
        server.get("careful", "/"),
        (200, "Hello from web.1\n".to_string())
    );
    assert!(server
        .ok(&["releases", "-a", "careful"])
        .contains("Current: v1"));
    assert_eq!(server.get("unknown-app", "/").0, 404);
}

#[test]
fn a_push_that_waited_for_another_is_refused_clearly() {
    let server = TestServer::start();
    let first = server.repo("examples/hello", "busy");
    first.push_ok();
    let second = server.repo("examples/hello", "busy");
    second.git(&["fetch", "-q", "deploy"]);
    second.git(&["reset", "-q", "--hard", "deploy/master"]);

    // The first push boots slowly, so the second arrives while it holds the lock.
    first.write("Procfile", "web: sleep 3 && exec python3 server.py\n");
    first.commit("slow boot");
    second.write(
        "server.py",
        &std::fs::read_to_string(second.dir.path().join("server.py"))
            .unwrap()
            .replace(" from ", " from second "),
    );
    second.commit("second change");
    let slow = std::thread::scope(|scope| {
        let slow = scope.spawn(|| first.push());
        std::thread::sleep(std::time::Duration::from_millis(1000));
        let waited = second.push();
        let said = text(&waited);
        let slow = slow.join().unwrap();
        let said = format!("{said}\n--- the first push said:\n{}", text(&slow));
        assert!(!waited.status.success(), "{said}");
        assert!(
            said.contains("waiting for another operation on `busy`"),
            "{said}"
        );
        assert!(said.contains("another push deployed"), "{said}");
        slow
    });
    assert!(slow.status.success(), "{}", text(&slow));
    assert_eq!(
        server.get("busy", "/"),
        (200, "Hello from web.1\n".to_string())
    );
    let remote = text(&second.git(&["ls-remote", "deploy", "refs/heads/master"]));
    assert!(
        remote.starts_with(&first.head()),
        "the branch is the deployed commit: {remote}"
    );
}

#[test]
fn a_web_dyno_that_never_listens_fails_the_deploy_with_r10_after_60_seconds() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "deaf");
    repo.push_ok();
    repo.write("Procfile", "web: sleep 1000\n");
    repo.commit("never listens");
    let started = std::time::Instant::now();
    let output = repo.push();
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("Error R10 (Boot timeout) -> web.1 of `deaf` failed to bind to $PORT within 60 seconds of launch"),
        "{said}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(60));
    assert_eq!(
        server.get("deaf", "/"),
        (200, "Hello from web.1\n".to_string())
    );
    assert_eq!(
        server.containers("deaf").len(),
        1,
        "the dyno that never listened was removed"
    );
}

/// Whether `done` holds within `limit`.
fn within(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    poll(limit, || if done() { Ok(()) } else { Err(()) }).is_ok()
}

#[test]
fn a_push_killed_in_its_release_phase_leaves_nothing_running_or_pending() {
    // #19, point 4: the release dyno ran on to its end and stayed, the
    // build stayed `pending`, and `ps` listed `release.1: crashed (exit
    // status 0)` against a later release of the same number.
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "halted");
    repo.push_ok();
    let deployed = repo.head();
    repo.write(
        "Procfile",
        "web: python3 server.py\nrelease: echo migrating slowly; sleep 60\n",
    );
    repo.commit("a slow release phase");
    let said = tempfile::NamedTempFile::new().unwrap();
    let mut push = repo
        .git_command(&["push", "deploy", "master"])
        .stdin(Stdio::null())
        .stdout(said.reopen().unwrap())
        .stderr(said.reopen().unwrap())
        .spawn()
        .unwrap();
    let release_dyno = |names: &[String]| names.iter().any(|n| n.contains("-release.1-"));
    let running = within(Duration::from_secs(240), || {
        release_dyno(&server.containers("halted"))
    });
    let output = || std::fs::read_to_string(said.path()).unwrap_or_default();
    if !running {
        let _ = push.kill();
        panic!("the release phase never started:\n{}", output());
    }
    // While it runs, `ps` names it by its build: v2 is not recorded yet.
    let ps = server.ok(&["ps", "-a", "halted"]);
    assert!(
        ps.contains("=== release: release phase (1)")
            && ps.contains("release.1: up ")
            && ps.contains("(build #2's release phase)")
            && !ps.contains("[v2]"),
        "{ps}"
    );

    // This install's hook, and only it.
    let root = std::fs::canonicalize(server.root.path()).unwrap();
    let root = root.display();
    let pattern = format!("{root}/bin/paas --root {root} hook pre-receive");
    let found = Command::new("pgrep")
        .args(["-f", &pattern])
        .output()
        .unwrap();
    let hooks: Vec<i32> = String::from_utf8_lossy(&found.stdout)
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    assert_eq!(hooks.len(), 1, "one hook runs: {hooks:?}\n{}", output());
    unsafe { libc::kill(hooks[0], libc::SIGKILL) };
    let killed = Instant::now();
    let ended = within(Duration::from_secs(60), || {
        push.try_wait().unwrap().is_some()
    });
    assert!(ended, "the push ends with its hook:\n{}", output());
    assert!(!push.wait().unwrap().success(), "{}", output());

    // The daemon's next pass clears what the push left; no command takes
    // the app's lock meanwhile.
    let release_containers = || {
        server
            .podman(&[
                "ps",
                "--all",
                "--filter",
                &format!("label=paas.install={}", server.install_id()),
                "--filter",
                "label=paas.app=halted",
                "--filter",
                "label=paas.type=release",
                "--format",
                "{{.Names}}",
            ])
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<String>>()
    };
    let build_two = || {
        let listed = server.cmd(&["builds", "-a", "halted", "--json"]);
        let builds: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        builds
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == 2)
            .cloned()
            .unwrap()
    };
    let cleared = within(Duration::from_secs(15), || {
        release_containers().is_empty() && build_two()["status"] == "failed"
    });
    assert!(
        cleared,
        "after {:?}: release containers {:?}, build #2 {}",
        killed.elapsed(),
        release_containers(),
        build_two()
    );
    assert_eq!(build_two()["failure"], "interrupted");
    assert_eq!(build_two()["release"], serde_json::Value::Null);
    let table = server.ok(&["builds", "-a", "halted"]);
    let line = table
        .lines()
        .find(|l| l.contains("#2 "))
        .unwrap_or_default();
    assert!(line.contains("failed (interrupted)"), "{table}");
    let transcript = server.ok(&["builds:output", "2", "-a", "halted"]);
    assert!(
        transcript.contains("migrating slowly")
            && transcript.contains("Interrupted: the push's process ended before the build did"),
        "{transcript}"
    );
    let ps = server.ok(&["ps", "-a", "halted"]);
    assert!(!ps.contains("release.1"), "{ps}");
    let env_files: Vec<String> = std::fs::read_dir(server.root.path().join("run/env"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("-halted-release."))
        .collect();
    assert!(env_files.is_empty(), "{env_files:?}");
    let logs = server.ok(&["logs", "-a", "halted", "-n", "50"]);
    assert!(
        logs.contains(
            "Release phase of build #2 (to be v2) started: `echo migrating slowly; sleep 60`"
        ) && logs
            .contains("Release phase stopped and removed: build #2's push ended before it did")
            && logs.contains("Build #2 interrupted"),
        "{logs}"
    );

    // The old release serves, the branch did not move, and a push deploys.
    assert_eq!(
        server.get("halted", "/"),
        (200, "Hello from web.1\n".to_string())
    );
    let remote = text(&repo.git(&["ls-remote", "deploy", "refs/heads/master"]));
    assert!(remote.starts_with(&deployed), "{remote}");
    repo.write(
        "Procfile",
        "web: python3 server.py\nrelease: echo migrating quickly\n",
    );
    repo.commit("a quick release phase");
    let pushed = repo.push_ok();
    assert!(pushed.contains("migrating quickly"), "{pushed}");
    assert!(pushed.contains("Released v2"), "{pushed}");
    let ps = server.ok(&["ps", "-a", "halted"]);
    assert!(
        ps.contains("web.1: up") && !ps.contains("release.1"),
        "{ps}"
    );
    let build = server.cmd(&["builds", "-a", "halted", "--json"]);
    let builds: serde_json::Value = serde_json::from_slice(&build.stdout).unwrap();
    assert_eq!(
        (
            &builds[0]["id"],
            &builds[0]["status"],
            &builds[0]["release"]
        ),
        (&3.into(), &"succeeded".into(), &2.into())
    );
}
