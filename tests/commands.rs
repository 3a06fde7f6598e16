//! The app commands' other verbs, over SSH.

use crate::harness::{poll, text, TestServer};

#[test]
fn apps_info_releases_info_config_unset_restart_and_destroy() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "tour");
    repo.push_ok();

    let info = server.ok(&["apps:info", "-a", "tour"]);
    assert!(
        info.contains(&format!(
            "Web URL:  http://tour.localhost:{}/",
            server.http_port
        )),
        "{info}"
    );
    assert!(
        info.contains(&format!(
            "Git URL:  ssh://paas@127.0.0.1:{}/tour",
            server.ssh_port
        )),
        "{info}"
    );
    assert!(info.contains("Dynos:    web.1"), "{info}");

    server.ok(&["config:set", "-a", "tour", "GREETING=Hi", "OTHER=1"]);
    let output = server.ok(&["config:unset", "-a", "tour", "GREETING"]);
    assert!(output.contains("done, v3"), "{output}");
    assert_eq!(server.get("tour", "/").1, "Hello from web.1\n");
    assert_eq!(
        server.ok(&["config", "-a", "tour", "--shell"]).trim(),
        "OTHER=1"
    );

    let release = server.ok(&["releases:info", "-a", "tour", "v3"]);
    assert!(release.contains("=== Release v3"), "{release}");
    assert!(
        release.contains("Change:      Unset GREETING config vars"),
        "{release}"
    );
    assert!(
        release.contains(&format!("Commit:      {}", repo.head())),
        "{release}"
    );
    assert!(release.contains("Config vars: OTHER"), "{release}");

    let before = server.containers("tour");
    server.ok(&["ps:restart", "-a", "tour"]);
    // The replaced dyno stays on standby for the window (1 s here), then stops.
    let after = poll(std::time::Duration::from_secs(40), || {
        let after = server.containers("tour");
        match after.len() {
            1 => Ok(after),
            _ => Err(after),
        }
    })
    .unwrap_or_else(|last| last);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(before, after, "restart replaces the dyno");
    assert_eq!(
        server.get("tour", "/"),
        (200, "Hello from web.1\n".to_string())
    );

    let output = server.ok(&["apps:destroy", "-a", "tour", "--confirm", "tour"]);
    assert!(output.contains("done"), "{output}");
    assert!(server.containers("tour").is_empty());
    assert_eq!(server.get("tour", "/").0, 404);
    assert!(!server.ok(&["apps"]).contains("tour"));
    let gone = server.cmd(&["ps", "-a", "tour"]);
    assert!(
        text(&gone).contains("app `tour` does not exist"),
        "{}",
        text(&gone)
    );
}

#[test]
fn root_on_the_server_runs_app_commands_as_the_owner() {
    let server = TestServer::start();
    let output = server.local(&["apps:create", "made-here"]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains(&format!("http://made-here.localhost:{}/", server.http_port)));
    let again = server.local(&["apps:create", "made-here"]);
    assert!(
        text(&again).contains("app `made-here` already exists"),
        "{}",
        text(&again)
    );

    server.repo("examples/hello", "made-here").push_ok();
    let ps = server.local(&["ps", "-a", "made-here"]);
    assert!(ps.status.success(), "{}", text(&ps));
    assert!(text(&ps).contains("web.1: up"), "{}", text(&ps));
    // Files made by root's command belong to the owner, like everything else.
    let owner = std::process::Command::new("stat")
        .args(["-c", "%U"])
        .arg(server.root.path().join("apps/made-here/app.toml"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), "paas");
}
