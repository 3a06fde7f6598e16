//! Failure keeps what works: a failed build or a release that does not boot
//! rejects the push and leaves the running release serving.

use crate::harness::{text, TestServer};

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

    repo.write("Procfile", "web: python3 server.py\n");
    repo.commit("fix the Procfile");
    repo.push_ok();
    let releases = server.ok(&["releases", "-a", "sturdy"]);
    assert!(
        releases.contains("Current: v2"),
        "failed builds record no release:\n{releases}"
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
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
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
