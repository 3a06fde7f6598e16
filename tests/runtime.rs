//! What a dyno sees and what the router does around it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{poll, text, TestServer};

#[test]
fn only_the_deploy_branch_deploys() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "branches");
    repo.push_ok();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("Procfile", "web: this would not boot\n");
    repo.commit("on a branch");
    let output = repo.git(&["push", "deploy", "feature"]);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("`feature` is not the deploy branch (master or main); pushed, not deployed"),
        "{said}"
    );
    assert!(server
        .ok(&["releases", "-a", "branches"])
        .contains("Current: v1"));
    assert_eq!(
        server.get("branches", "/"),
        (200, "Hello from web.1\n".to_string())
    );
}

#[test]
fn dynos_get_a_throwaway_filesystem_and_the_router_says_when_none_serve() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "scratch");
    repo.write(
        "Procfile",
        "web: python3 server.py\nworker: if [ -e /app/marker ]; then echo existed; else touch /app/marker && echo created; fi; sleep 1000\n",
    );
    repo.commit("a worker that writes into /app");
    repo.push_ok();
    server.ok(&["ps:scale", "-a", "scratch", "worker=1"]);
    server.ok(&["ps:restart", "-a", "scratch", "worker"]);
    let logs = poll(Duration::from_secs(10), || {
        let logs = server.ok(&["logs", "-a", "scratch"]);
        match logs.matches("app[worker.1]: created").count() >= 2 {
            true => Ok(logs),
            false => Err(logs),
        }
    })
    .unwrap_or_else(|last| last);
    assert_eq!(logs.matches("app[worker.1]: created").count(), 2, "{logs}");
    assert!(
        !logs.contains("app[worker.1]: existed"),
        "a restarted dyno starts from the slug again:\n{logs}"
    );

    server.ok(&["ps:scale", "-a", "scratch", "web=0"]);
    let (status, body) = server.get("scratch", "/");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no web dyno running"), "{body}");
    std::thread::sleep(Duration::from_millis(500));
    let router = server.ok(&["logs", "-a", "scratch", "-d", "router"]);
    assert!(
        router.contains("paas[router]: at=error code=H14 desc=\"No web processes running\" method=GET path=\"/\""),
        "{router}"
    );
}

#[test]
fn logs_tail_follows_new_lines() {
    let server = TestServer::start();
    server.repo("examples/hello", "chatty").push_ok();
    let mut tail = server
        .ssh_process(false, &["logs", "-t", "-a", "chatty"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    std::thread::sleep(Duration::from_millis(500));
    server.get("chatty", "/followed");
    let found = lines.find(|l| {
        l.as_ref()
            .is_ok_and(|l| l.contains("app[web.1]: GET /followed"))
    });
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(found.is_some(), "`logs -t` printed the new request");
}

#[test]
fn one_apps_dynos_cannot_connect_to_anothers() {
    let server = TestServer::start();
    server.repo("examples/hello", "walled").push_ok();
    server.repo("examples/hello", "prober").push_ok();
    let web = server
        .containers("walled")
        .into_iter()
        .find(|c| c.contains("-web.1-"))
        .expect("walled's web dyno");
    // Its address on its app's network (podman may warn on other lines).
    let inspected = server.podman(&[
        "inspect",
        "--format",
        "ip={{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &web,
    ]);
    let ip = inspected
        .lines()
        .find_map(|l| l.strip_prefix("ip="))
        .filter(|ip| ip.starts_with("10."))
        .unwrap_or_else(|| panic!("no address in:\n{inspected}"))
        .to_string();
    let probe =
        format!("timeout 5 bash -c 'exec 3<>/dev/tcp/{ip}/$PORT' && echo OPEN || echo CLOSED");
    let answer = |app: &str| {
        if server.one_off_says_open(app, &probe) {
            "OPEN"
        } else {
            "CLOSED"
        }
    };
    assert_eq!(answer("walled"), "OPEN", "its own app's dynos reach it");
    let from_prober = answer("prober");
    assert_eq!(
        from_prober,
        "CLOSED",
        "another app's dynos do not reach {ip}; podman's network namespace has:\n{}\n{}",
        server.podman(&["unshare", "--rootless-netns", "iptables-save"]),
        server.podman(&["unshare", "--rootless-netns", "ip", "-br", "addr"]),
    );
    // Nor by the host: it publishes no port.
    let ports = server.podman(&["port", &web]);
    assert!(!ports.contains("127.0.0.1:"), "{ports}");
    assert_eq!(
        server.get("walled", "/"),
        (200, "Hello from web.1\n".to_string())
    );
}
