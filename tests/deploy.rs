//! The spine (issue #2): push, build, release, run, route, and the commands
//! that change what runs.

use crate::harness::TestServer;

#[test]
fn procfile_app_deploys_configures_scales_and_rolls_back() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "hello");
    let output = repo.push_ok();
    assert!(output.contains("Procfile app detected"), "{output}");
    assert!(output.contains("Released v1"), "{output}");
    assert!(
        output.contains(&format!("http://hello.localhost:{}/", server.http_port)),
        "the push ends with the app's URL:\n{output}"
    );
    assert_eq!(
        server.get("hello", "/"),
        (200, "Hello from web.1\n".to_string())
    );

    // config:set is a new release, and the dynos see the new value.
    let output = server.ok(&["config:set", "-a", "hello", "GREETING=Howdy; it's me"]);
    assert!(output.contains("v2"), "{output}");
    assert_eq!(server.get("hello", "/").1, "Howdy; it's me from web.1\n");
    assert_eq!(
        server.ok(&["config:get", "-a", "hello", "GREETING"]).trim(),
        "Howdy; it's me"
    );

    // Two web dynos answer in turn.
    server.ok(&["ps:scale", "-a", "hello", "web=2"]);
    let bodies: Vec<String> = (0..4).map(|_| server.get("hello", "/").1).collect();
    assert!(bodies.iter().any(|b| b.contains("web.1")), "{bodies:?}");
    assert!(bodies.iter().any(|b| b.contains("web.2")), "{bodies:?}");
    let ps = server.ok(&["ps", "-a", "hello"]);
    assert!(ps.contains("=== web (2): python3 server.py"), "{ps}");
    assert!(
        ps.contains("web.1: up ") && ps.contains("web.2: up "),
        "{ps}"
    );

    // Rollback brings back v1's config: a new release, v1 untouched.
    let output = server.ok(&["releases:rollback", "-a", "hello"]);
    assert!(
        output.contains("Rolling back hello to v1... done, v3"),
        "{output}"
    );
    assert!(server.get("hello", "/").1.starts_with("Hello from web."));
    let releases = server.ok(&["releases", "-a", "hello"]);
    assert!(releases.contains("Current: v3"), "{releases}");
    assert!(releases.contains("Rollback to v1"), "{releases}");
    assert!(releases.contains("Set GREETING config vars"), "{releases}");
    assert!(
        releases.contains(&format!("Deploy {}", &repo.head()[..7])),
        "{releases}"
    );
    // The formation outlives the rollback.
    assert!(server.ok(&["ps", "-a", "hello"]).contains("=== web (2)"));

    // Dyno output reaches `logs` in Heroku's format.
    let logs = server.ok(&["logs", "-a", "hello", "-n", "200"]);
    assert!(
        logs.lines()
            .any(|l| l.contains(" app[web.1]: GET /") && l.contains("+00:00 ")),
        "{logs}"
    );
}

#[test]
fn flask_app_builds_with_pip_and_serves_through_gunicorn() {
    let server = TestServer::start();
    let repo = server.repo("examples/flask", "flask");
    let output = repo.push_ok();
    assert!(output.contains("Python app detected"), "{output}");
    assert!(
        output.contains("Installing requirements with pip"),
        "{output}"
    );
    assert_eq!(
        server.get("flask", "/"),
        (200, "Hello from Flask on web.1\n".to_string())
    );

    // A code-only push reuses the cached virtualenv and serves the new code.
    let app = std::fs::read_to_string(repo.dir.path().join("app.py")).unwrap();
    assert!(app.contains(" from Flask on "));
    repo.write(
        "app.py",
        &app.replace(" from Flask on ", " again from Flask on "),
    );
    repo.commit("change the greeting");
    let output = repo.push_ok();
    assert!(output.contains("Reusing the cached virtualenv"), "{output}");
    assert!(output.contains("Released v2"), "{output}");
    assert_eq!(
        server.get("flask", "/").1,
        "Hello again from Flask on web.1\n"
    );
}

#[test]
fn non_web_process_types_run_when_scaled() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "jobs");
    repo.write(
        "Procfile",
        "web: python3 server.py\nworker: python3 -u worker.py\n",
    );
    repo.write(
        "worker.py",
        "import time\nwhile True:\n    print('working', flush=True)\n    time.sleep(0.2)\n",
    );
    repo.commit("add a worker");
    let output = repo.push_ok();
    assert!(output.contains("web, worker"), "{output}");
    assert!(
        output.contains("ps:scale worker=1"),
        "a zero-scaled type says how to start it:\n{output}"
    );
    server.ok(&["ps:scale", "-a", "jobs", "worker=1"]);
    let ps = server.ok(&["ps", "-a", "jobs"]);
    assert!(ps.contains("worker.1: up"), "{ps}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    let logs = server.ok(&["logs", "-a", "jobs"]);
    assert!(logs.contains("app[worker.1]: working"), "{logs}");
}

#[test]
fn two_installs_on_one_machine_keep_their_apps_apart() {
    let first = TestServer::start();
    let second = TestServer::start();
    first.repo("examples/hello", "same").push_ok();
    second.repo("examples/hello", "same").push_ok();
    first.ok(&["config:set", "-a", "same", "GREETING=First"]);
    second.ok(&["config:set", "-a", "same", "GREETING=Second"]);
    assert_eq!(first.get("same", "/").1, "First from web.1\n");
    assert_eq!(second.get("same", "/").1, "Second from web.1\n");
    drop(second);
    // Uninstalling one leaves the other serving.
    assert_eq!(
        first.get("same", "/"),
        (200, "First from web.1\n".to_string())
    );
}
