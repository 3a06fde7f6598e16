//! `paas local` and `local:run` (#21, point 1): the Procfile's processes on
//! this machine, as `heroku local` (foreman) runs them. No server: each test
//! is a directory with a Procfile and a `.env`, and takes about a second.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{paas_bin, text};

/// `paas ARGS` in `dir`, with no `PORT` of the test runner's.
fn paas(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(paas_bin());
    command
        .args(args)
        .current_dir(dir)
        .env_remove("PORT")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    command
}

fn app(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

/// Waits for `child`, killing it (and failing) if it runs past `limit`.
fn finish(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}:\n{}", text(&output));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn run(mut command: Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, Duration::from_secs(20))
}

/// The lines of `name`'s output, without the time and prefix.
fn lines_of(output: &Output, name: &str) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| {
            // `14:03:07 web.1    | text`
            let (prefix, rest) = line.split_once(" | ")?;
            let (_time, who) = prefix.split_once(' ')?;
            (who.trim_end() == name).then(|| rest.to_string())
        })
        .collect()
}

/// Whether a process with `pid` is left (a zombie counts: it was not reaped).
fn exists(pid: &str) -> bool {
    Path::new("/proc").join(pid.trim()).exists()
}

fn wait_for_file(path: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no {path:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn processes_start_with_the_env_file_and_foremans_ports_and_prefixes() {
    let dir = app(&[
        (
            "Procfile",
            concat!(
                "web: echo \"port=$PORT ps=$PS greeting=$GREETING quoted=$QUOTED\"; ",
                "echo \"in $(pwd)\" >&2; sleep 0.5\n",
                "release: echo never\n",
                "worker: echo \"port=$PORT ps=$PS multi=$MULTI\"; sleep 30\n",
            ),
        ),
        (
            ".env",
            concat!(
                "# comments and blank lines are skipped\n\n",
                "export GREETING=\"hello $NAME\"   # an inline comment\n",
                "NAME=unused-later\n",
                "QUOTED='a $b # c'\n",
                "MULTI=\"one\\ntwo\"\n",
                "PS=overridden\n",
            ),
        ),
    ]);
    let mut command = paas(dir.path(), &["local", "web=2,worker", "-p", "6000"]);
    command.env("NAME", "world");
    let output = run(command);
    assert!(output.status.success(), "{}", text(&output));

    let web1 = lines_of(&output, "web.1");
    assert!(
        web1.contains(&"port=6000 ps=web.1 greeting=hello world quoted=a $b # c".into()),
        "{}",
        text(&output)
    );
    let dir_line = format!("in {}", dir.path().canonicalize().unwrap().display());
    assert!(
        web1.contains(&dir_line),
        "stderr too, in the Procfile's directory: {web1:?}"
    );
    assert!(lines_of(&output, "web.2")
        .contains(&"port=6001 ps=web.2 greeting=hello world quoted=a $b # c".into()));
    // The Procfile's third type: 200 up from the base, whatever runs with it.
    let worker = lines_of(&output, "worker.1");
    assert!(
        worker.contains(&"port=6200 ps=worker.1 multi=one".into()),
        "{worker:?}"
    );
    assert!(worker.contains(&"two".into()), "{worker:?}");
    assert!(
        lines_of(&output, "release.1").is_empty(),
        "named, only those run"
    );

    // foreman's prefix: the time, the name padded to the longest, ` | `;
    // no colour off a terminal.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first = stdout.lines().next().unwrap();
    assert!(first.starts_with(|c: char| c.is_ascii_digit()), "{first}");
    assert_eq!(&first[2..3], ":");
    assert!(
        first[8..].starts_with(" web.1    | started with pid "),
        "{first}"
    );
    assert!(!stdout.contains('\x1b'), "{stdout}");
    assert!(
        stdout.contains(" system   | sending SIGTERM to all processes"),
        "{stdout}"
    );
    assert!(lines_of(&output, "worker.1").contains(&"terminated by SIGTERM".into()));
}

#[test]
fn every_type_but_release_runs_by_default_and_colours_on_request() {
    let dir = app(&[(
        "Procfile",
        "web: echo \"web $PORT\"; sleep 0.3\nrelease: echo release\nclock: echo \"clock $PORT\"; sleep 30\n",
    )]);
    let output = run(paas(dir.path(), &["local", "--color", "always"]));
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("\x1b[36m"), "web is cyan: {stdout:?}");
    assert!(
        stdout.contains("\x1b[32m"),
        "the third type green: {stdout:?}"
    );
    assert!(stdout.contains("web.1   | \x1b[0mweb 5000"), "{stdout:?}");
    assert!(stdout.contains("clock.1 | \x1b[0mclock 5200"), "{stdout:?}");
    assert!(!stdout.contains("release"), "{stdout:?}");
}

#[test]
fn the_first_process_to_end_stops_the_rest_with_its_exit_status() {
    let dir = app(&[(
        "Procfile",
        concat!(
            "web: sleep 0.3; echo failing; exit 3\n",
            // What the worker started must go too: it is in its group.
            "worker: sleep 60 & echo $! > grandchild.pid; wait\n",
        ),
    )]);
    let start = Instant::now();
    let output = run(paas(dir.path(), &["local"]));
    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(
        lines_of(&output, "web.1")[1..],
        ["failing".to_string(), "exited with code 3".into()]
    );
    let worker = lines_of(&output, "worker.1");
    assert!(
        worker.contains(&"terminated by SIGTERM".into()),
        "{worker:?}"
    );
    let grandchild = std::fs::read_to_string(dir.path().join("grandchild.pid")).unwrap();
    assert!(!exists(&grandchild), "the worker's `sleep` lives on");
}

#[test]
fn sigint_and_sigterm_stop_every_process_and_what_it_started() {
    for (signal, code, name) in [
        (libc::SIGINT, 130, "SIGINT"),
        (libc::SIGTERM, 143, "SIGTERM"),
    ] {
        let dir = app(&[(
            "Procfile",
            concat!(
                "web: sleep 60 & echo $! > web.pid; wait\n",
                "worker: sh -c 'sleep 60 & echo $! > worker.pid; wait'\n",
            ),
        )]);
        let child = paas(dir.path(), &["local"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let web = wait_for_file(&dir.path().join("web.pid"));
        let worker = wait_for_file(&dir.path().join("worker.pid"));
        unsafe { libc::kill(child.id() as i32, signal) };
        let output = finish(child, Duration::from_secs(10));
        assert_eq!(output.status.code(), Some(code), "{}", text(&output));
        let system = lines_of(&output, "system");
        assert_eq!(
            system,
            [
                format!("{name} received, starting shutdown"),
                "sending SIGTERM to all processes".into()
            ]
        );
        assert!(!exists(&web), "{name}: web's sleep lives on");
        assert!(!exists(&worker), "{name}: worker's grandchild lives on");
    }
}

#[test]
fn a_process_that_ignores_sigterm_gets_sigkill_after_the_timeout() {
    let dir = app(&[(
        "Procfile",
        "web: trap '' TERM; sleep 60\nworker: sleep 0.5\n",
    )]);
    let start = Instant::now();
    let output = run(paas(dir.path(), &["local", "-t", "1"]));
    let took = start.elapsed();
    assert!(
        output.status.success(),
        "the worker ended first, with 0: {}",
        text(&output)
    );
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(
        lines_of(&output, "system"),
        [
            "sending SIGTERM to all processes",
            "sending SIGKILL to all processes"
        ]
    );
    assert!(lines_of(&output, "web.1").contains(&"terminated by SIGKILL".into()));
}

#[test]
fn a_closed_output_stops_the_processes() {
    let dir = app(&[("Procfile", "web: while :; do echo tick; sleep 0.05; done\n")]);
    let mut child = paas(dir.path(), &["local"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read a few lines, then go away as `| head` does.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for _ in 0..3 {
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    }
    drop(stdout);
    let output = finish(child, Duration::from_secs(10));
    assert_eq!(
        output.status.code(),
        Some(141),
        "128 + SIGPIPE: {}",
        text(&output)
    );
    assert_eq!(
        output.status.signal(),
        None,
        "paas was not killed by the pipe"
    );
}

#[test]
fn local_run_passes_the_env_file_and_the_exit_status_through() {
    let dir = app(&[
        ("Procfile", "web: echo web on $PORT\n"),
        (".env", "GREETING='hello world'\n"),
        ("test.env", "GREETING=from test\nPORT=7000\n"),
    ]);
    let output = run(paas(
        dir.path(),
        &["local:run", "echo \"$GREETING ${PORT:-no port}\"; exit 7"],
    ));
    assert_eq!(output.status.code(), Some(7), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "hello world no port\n"
    );

    // Several words are quoted: the shell that typed them expanded them.
    let output = run(paas(
        dir.path(),
        &[
            "local:run",
            "-e",
            "test.env",
            "printf",
            "%s|",
            "$GREETING",
            "-p",
        ],
    ));
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "$GREETING|-p|");

    // A Procfile type runs its command; `-p` sets `PORT`.
    let output = run(paas(
        dir.path(),
        &["local:run", "-p", "5555", "web", "extra"],
    ));
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "web on 5555 extra\n"
    );

    // paas became the command: a signal's death is ours too.
    let output = run(paas(dir.path(), &["local:run", "kill -TERM $$"]));
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGTERM),
        "{}",
        text(&output)
    );
}

#[test]
fn mistakes_are_reported_before_anything_starts() {
    let error = |files: &[(&str, &str)], args: &[&str]| {
        let dir = app(files);
        let output = run(paas(dir.path(), args));
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(output.stdout.is_empty(), "{}", text(&output));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let said = error(&[], &["local"]);
    assert!(
        said.starts_with("error: there is no `Procfile` here\n"),
        "{said}"
    );
    let said = error(
        &[("Procfile", "web: x\n"), (".env", "A=1\noops\n")],
        &["local"],
    );
    assert!(
        said.starts_with("error: `.env`, line 2: expected `KEY=value`, found `oops`\n"),
        "{said}"
    );
    let said = error(&[("Procfile", "web: x\n")], &["local", "-e", "missing.env"]);
    assert!(
        said.starts_with("error: cannot read the env file `missing.env`"),
        "{said}"
    );
    let said = error(&[("Procfile", "web: x\n")], &["local", "worker"]);
    assert!(
        said.contains("the Procfile has no process type `worker`"),
        "{said}"
    );
    assert!(said.contains("hint: its types: web"), "{said}");
    let said = error(
        &[("Procfile", "web: x\n"), (".env", "PORT=http\n")],
        &["local"],
    );
    assert!(
        said.contains("`PORT=http` from the env file is not a port"),
        "{said}"
    );
}
