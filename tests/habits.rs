//! Heroku's habits (#21 points 2, 3, 8, 9): `run`'s options wherever they
//! stand before a `--`, `-r` and `PAAS_APP`, the root aliases, relative
//! scaling and the formation, Heroku's log flags, and the confirmation
//! prompt on a terminal.

use std::io::Write;
use std::process::Stdio;

use crate::harness::{text, TestServer};

#[test]
fn run_reads_its_options_as_heroku_does() {
    let server = TestServer::start();
    server.repo("examples/hello", "habit").push_ok();

    // `-a` after the command is paas's, not the command's.
    let ran = server.ok(&["run", "echo", "hi", "-a", "habit"]);
    assert!(ran.lines().any(|l| l.trim() == "hi"), "{ran}");
    // After `--` every word is the command's.
    let ran = server.ok(&[
        "run",
        "-a",
        "habit",
        "-s",
        "standard-2x",
        "--",
        "sh",
        "-c",
        "echo \"$*\"",
        "x",
        "-a",
        "arg1",
        "-s",
        "arg2",
    ]);
    assert!(ran.lines().any(|l| l.trim() == "-a arg1 -s arg2"), "{ran}");
    // -e sets vars for this dyno only.
    let ran = server.ok(&[
        "run",
        "-e",
        "A=1;B=two",
        "-a",
        "habit",
        "--",
        "sh",
        "-c",
        "echo $A-$B",
    ]);
    assert!(ran.lines().any(|l| l.trim() == "1-two"), "{ran}");
    assert!(server.ok(&["config", "-a", "habit"]).find("B=").is_none());
    // -x: the command's exit status, as paas always passes it.
    let failed = server.cmd(&[
        "run", "-x", "--no-tty", "-a", "habit", "--", "sh", "-c", "exit 3",
    ]);
    assert_eq!(failed.status.code(), Some(3), "{}", text(&failed));
    server.refused(
        &["run", "-s", "huge", "-a", "habit", "true"],
        "`huge` is not a dyno size",
    );
    server.refused(&["run", "-e", "1A=x", "-a", "habit", "true"], "1A");
}

#[test]
fn scale_restart_info_and_config_aliases_and_relative_scaling() {
    let server = TestServer::start();
    server.repo("examples/hello", "aliased").push_ok();
    server.refused(
        &["releases:retry", "-a", "aliased"],
        "v1 has no release phase to run again",
    );
    assert_eq!(
        server.ok(&["ps:scale", "-a", "aliased"]).trim(),
        "web=1:standard-1x"
    );
    let scaled = server.ok(&["scale", "web+1", "-a", "aliased"]);
    assert!(
        scaled.contains("now running web at 2:standard-1x"),
        "{scaled}"
    );
    assert_eq!(
        server.ok(&["ps:scale", "-a", "aliased"]).trim(),
        "web=2:standard-1x"
    );
    server.ok(&["ps:scale", "web-1", "-a", "aliased"]);
    assert_eq!(
        server.ok(&["ps:scale", "-a", "aliased"]).trim(),
        "web=1:standard-1x"
    );
    server.refused(
        &["ps:scale", "web-2", "-a", "aliased"],
        "`web` has 1 dyno: `web-2` would leave fewer than none",
    );
    server.ok(&["restart", "-a", "aliased"]);
    assert!(server.ok(&["info", "-a", "aliased"]).contains("Web URL:"));
    server.ok(&["config:add", "GREETING=Howdy", "-a", "aliased"]);
    assert_eq!(
        server.get("aliased", "/"),
        (200, "Howdy from web.1\n".into())
    );
    server.ok(&["config:remove", "GREETING", "-a", "aliased"]);
    assert_eq!(
        server.get("aliased", "/"),
        (200, "Hello from web.1\n".into())
    );

    // Heroku's log flags.
    let platform = server.ok(&["logs", "-s", "heroku", "-a", "aliased"]);
    assert!(
        platform.contains("Scaled to web@2:standard-1x"),
        "{platform}"
    );
    assert!(!platform.contains(" app[web.1]:"), "{platform}");
    let web1 = server.ok(&["logs", "--dyno-name", "web.1", "-a", "aliased"]);
    assert!(web1.lines().all(|l| l.contains("[web.1]")), "{web1}");
    let web = server.ok(&["logs", "--process-type", "web", "-a", "aliased"]);
    assert!(
        !web.is_empty() && web.lines().all(|l| l.contains("[web.")),
        "{web}"
    );

    // From a laptop: `-r` names the server, `PAAS_APP` the app.
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ps = server
        .client(
            dir.path(),
            home.path(),
            &["-r", &server.address(), "ps:scale"],
        )
        .env("PAAS_APP", "aliased")
        .output()
        .unwrap();
    assert!(ps.status.success(), "{}", text(&ps));
    assert_eq!(
        String::from_utf8_lossy(&ps.stdout).trim(),
        "web=1:standard-1x"
    );
}

#[test]
fn destroying_asks_for_the_name_on_a_terminal() {
    let server = TestServer::start();
    server.ok(&["apps:create", "doomed"]);
    let destroy = |typed: &str| {
        let mut ssh = server
            .ssh_process(true, &["apps:destroy", "-a", "doomed"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The pty echoes; the prompt reads a line.
        ssh.stdin
            .as_mut()
            .unwrap()
            .write_all(format!("{typed}\n").as_bytes())
            .unwrap();
        ssh.wait_with_output().unwrap()
    };
    let wrong = destroy("other");
    assert!(!wrong.status.success(), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("To proceed, type doomed"),
        "{}",
        text(&wrong)
    );
    assert!(server.ok(&["apps"]).contains("doomed"));
    let right = destroy("doomed");
    assert!(right.status.success(), "{}", text(&right));
    assert!(!server.ok(&["apps"]).contains("doomed"));
    // Without a terminal, `-c` confirms.
    server.ok(&["apps:create", "doomed2"]);
    server.refused(&["destroy", "-a", "doomed2"], "confirm with");
    server.ok(&["destroy", "-a", "doomed2", "-c", "doomed2"]);
}

#[test]
fn config_edit_from_a_laptop_applies_the_change_as_one_release() {
    let server = TestServer::start();
    server.repo("examples/hello", "edited").push_ok();
    server.ok(&["config:set", "A=1", "B=2", "SP=a b", "-a", "edited"]);
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "sed -i -e 's/^A=1$/A=10/' -e '/^B=/d' \"$1\"\nprintf \"C='x y'\\nM='l1\\nl2'\\n\" >> \"$1\"\n",
    )
    .unwrap();
    let address = server.address();
    let client = |editor: &str, args: &[&str]| {
        let mut words = vec!["-r", &address, "-a", "edited"];
        words.extend(args);
        let output = server
            .client(dir.path(), home.path(), &words)
            .env("EDITOR", editor)
            .env_remove("VISUAL")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        text(&output)
    };
    let releases = || server.ok(&["releases", "-a", "edited"]).lines().count();
    let before = releases();
    let said = client(&format!("sh {}", editor.display()), &["config:edit"]);
    assert!(said.contains("Set A, C, M; Unset B config vars"), "{said}");
    assert_eq!(releases(), before + 1, "one release for the whole edit");
    assert_eq!(
        server.ok(&["config:get", "A", "C", "M", "SP", "-a", "edited"]),
        "10\nx y\nl1\nl2\na b\n"
    );
    server.refused(&["config:get", "B", "-a", "edited"], "no config var `B`");
    // Saved unchanged: nothing happens.
    let said = client("true", &["config:edit"]);
    assert!(
        said.contains("No changes to config vars of edited."),
        "{said}"
    );
    assert_eq!(releases(), before + 1);
    // `config --shell` round-trips through a shell.
    let shell = server.ok(&["config", "--shell", "-a", "edited"]);
    let script = format!("{shell}\nprintf '%s|' \"$M\" \"$SP\" \"$C\"");
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "l1\nl2|a b|x y|");
}

#[test]
fn releases_output_and_info_json() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "outputs");
    repo.write(
        "Procfile",
        "web: python3 server.py\nrelease: echo migrating the database; [ -z \"$BROKEN\" ]\n",
    );
    repo.commit("a release phase");
    repo.push_ok();
    let output = server.ok(&["releases:output", "-a", "outputs"]);
    assert!(
        output.contains("Building outputs") && output.contains("migrating the database"),
        "{output}"
    );
    server.ok(&["config:set", "A=secret-value", "-a", "outputs"]);
    server.refused(
        &["releases:output", "v2", "-a", "outputs"],
        "v2 (Set A config vars) ran no build",
    );
    assert_eq!(
        server.ok(&["releases:output", "v1", "-a", "outputs"]),
        output
    );
    let info = server.ok(&["releases:info", "--json", "-a", "outputs"]);
    assert!(!info.contains("secret-value"), "{info}");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["version"], 2);
    assert_eq!(info["current"], true);
    assert_eq!(info["config_vars"], serde_json::json!(["A"]));
    assert_eq!(info["processes"]["web"], "python3 server.py");
    assert!(
        info["slug"]["sha256"].as_str().unwrap().len() == 64,
        "{info}"
    );

    let app: serde_json::Value =
        serde_json::from_str(&server.ok(&["apps:info", "--json", "-a", "outputs"])).unwrap();
    assert_eq!(app["name"], "outputs");
    assert_eq!(app["owner"], "admin");
    assert_eq!(app["release"]["version"], 2);
    assert_eq!(
        app["dynos"]["web"],
        serde_json::json!({"wanted": 1, "running": 1})
    );
    assert_eq!(app["domains"], serde_json::json!([]));

    // `releases:retry`: the newest release's release phase again, as a new
    // release that then runs.
    let retried = server.ok(&["releases:retry", "-a", "outputs"]);
    assert!(
        retried.contains("Retrying v2 on outputs")
            && retried.contains("migrating the database")
            && retried.contains("Done, v3"),
        "{retried}"
    );
    let releases = server.ok(&["releases", "-a", "outputs"]);
    assert!(
        releases.contains("v3") && releases.contains("Retry of v2: Set A config vars"),
        "{releases}"
    );
    assert!(server.ok(&["ps", "-a", "outputs"]).contains("web.1: up"));
    // A release phase that failed is retried with that release's config:
    // it fails again, and v3 keeps running.
    let broken = server.cmd(&["config:set", "BROKEN=1", "-a", "outputs"]);
    assert!(!broken.status.success(), "{}", text(&broken));
    let retried = server.cmd(&["releases:retry", "-a", "outputs"]);
    assert!(
        !retried.status.success()
            && text(&retried).contains("Retrying v4 on outputs")
            && text(&retried).contains("v5: the release command failed"),
        "{}",
        text(&retried)
    );
    let info: serde_json::Value =
        serde_json::from_str(&server.ok(&["releases:info", "--json", "-a", "outputs"])).unwrap();
    assert_eq!(info["version"], 3);
    assert_eq!(server.get("outputs", "/").0, 200);
}
