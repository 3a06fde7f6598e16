//! Into a running dyno (#21 point 4): `ps:exec`, `ps:copy` and
//! `ps:forward`, from a laptop over SSH.

use std::io::{Read, Write};
use std::time::Duration;

use crate::harness::{free_port, poll, text, TestServer};

#[test]
fn exec_copy_and_forward_reach_the_running_dyno() {
    let server = TestServer::start();
    server.repo("examples/hello", "inside").push_ok();

    // The running dyno itself: what one exec writes, the next one reads.
    let said = server.ok(&[
        "ps:exec",
        "-d",
        "web.1",
        "-a",
        "inside",
        "--",
        "sh",
        "-c",
        "echo $DYNO:$PORT; echo here > /tmp/marker",
    ]);
    assert!(said.lines().any(|l| l.trim() == "web.1:5000"), "{said}");
    let said = server.ok(&["ps:exec", "-a", "inside", "cat", "/tmp/marker"]);
    assert!(said.lines().any(|l| l.trim() == "here"), "{said}");
    let failed = server.cmd(&["ps:exec", "-a", "inside", "--", "sh", "-c", "exit 4"]);
    assert_eq!(failed.status.code(), Some(4), "{}", text(&failed));
    server.refused(
        &["ps:exec", "-d", "web.9", "-a", "inside", "true"],
        "`inside` has no running dyno `web.9`",
    );

    // ps:copy from a laptop: the file, under its name, here.
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let address = server.address();
    let laptop = |args: &[&str]| {
        let mut words = vec!["-r", &address, "-a", "inside"];
        words.extend(args);
        server.client(dir.path(), home.path(), &words)
    };
    let copied = laptop(&["ps:copy", "server.py"]).output().unwrap();
    assert!(copied.status.success(), "{}", text(&copied));
    let original = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello/server.py"),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("server.py")).unwrap(),
        original
    );
    let again = laptop(&["ps:copy", "server.py"]).output().unwrap();
    assert!(!again.status.success() && text(&again).contains("cannot write `server.py`"));
    let missing = laptop(&["ps:copy", "nothing.txt"]).output().unwrap();
    assert!(!missing.status.success(), "{}", text(&missing));
    assert!(
        !dir.path().join("nothing.txt").exists(),
        "a failed copy leaves no file"
    );

    // ps:forward from a laptop: a local port to the dyno's $PORT.
    let local = free_port();
    let said = tempfile::NamedTempFile::new().unwrap();
    let mut forward = laptop(&["ps:forward", "5000", "-p", &local.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(said.reopen().unwrap())
        .stderr(said.reopen().unwrap())
        .spawn()
        .unwrap();
    let get = || -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", local)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    };
    let answer = poll(Duration::from_secs(20), || {
        get().filter(|a| !a.is_empty()).ok_or(())
    });
    let Ok(answer) = answer else {
        let _ = forward.kill();
        panic!(
            "the forwarded port never answered; ps:forward said:\n{}",
            std::fs::read_to_string(said.path()).unwrap_or_default()
        );
    };
    assert!(answer.ends_with("Hello from web.1\n"), "{answer}");
    // Each connection is its own.
    assert!(get().unwrap().ends_with("Hello from web.1\n"));
    let _ = forward.kill();
    let _ = forward.wait();
}
