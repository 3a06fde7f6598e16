//! Teams (#20): a user acts only on the apps they own or collaborate on;
//! for any other app every answer is the one for an app that does not
//! exist, the push and the add-on attach included.

use std::process::{Command, Output};

use crate::harness::{text, TestServer};

/// `git clone` of an app's repository with the `ssh` command line given.
fn clone(server: &TestServer, app: &str, ssh: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new("git")
        .args(["clone", &format!("{}/{app}", server.address())])
        .arg(dir.path().join(app))
        .env("GIT_SSH_COMMAND", ssh)
        .output()
        .unwrap()
}

#[test]
fn another_user_cannot_see_or_touch_an_app_until_given_access() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "app1");
    repo.push_ok();
    server.ok(&["config:set", "SECRET=s3cret-value", "-a", "app1"]);
    let created = server.ok(&["addons:create", "heroku-redis", "-a", "app1"]);
    let addons = server.ok(&["addons", "-a", "app1", "--json"]);
    let addons: serde_json::Value = serde_json::from_str(&addons).unwrap();
    let addon = addons[0]["name"].as_str().unwrap().to_string();
    assert!(created.contains(&addon), "{created}");
    let bob = server.add_user("bob");
    let as_bob = |args: &[&str]| server.cmd_with_key(&bob, args);

    // Refused at every step, exactly as for an app that does not exist.
    let hidden = |args: &[&str], missing: &[&str]| {
        let refused = as_bob(args);
        let absent = as_bob(missing);
        assert!(
            !refused.status.success(),
            "bob ran `{}`:\n{}",
            args.join(" "),
            text(&refused)
        );
        assert_eq!(
            text(&refused)
                .replace("app1", "nosuchapp")
                .replace(&addon, "redis-none-1"),
            text(&absent),
            "`{}` answered otherwise than for a missing app",
            args.join(" ")
        );
        assert!(!text(&refused).contains("s3cret"), "{}", text(&refused));
    };
    hidden(
        &["config:get", "SECRET", "-a", "app1"],
        &["config:get", "SECRET", "-a", "nosuchapp"],
    );
    hidden(
        &["run", "-a", "app1", "cat", "/etc/paas/env"],
        &["run", "-a", "nosuchapp", "cat", "/etc/paas/env"],
    );
    hidden(
        &["releases", "-a", "app1"],
        &["releases", "-a", "nosuchapp"],
    );
    hidden(&["logs", "-a", "app1"], &["logs", "-a", "nosuchapp"]);
    hidden(
        &["apps:destroy", "-a", "app1", "--confirm", "app1"],
        &["apps:destroy", "-a", "nosuchapp", "--confirm", "nosuchapp"],
    );
    hidden(
        &["redis:info", "-a", "app1"],
        &["redis:info", "-a", "nosuchapp"],
    );
    hidden(&["addons:info", &addon], &["addons:info", "redis-none-1"]);
    assert!(as_bob(&["apps:create", "bobapp"]).status.success());
    hidden(
        &["addons:attach", &addon, "-a", "bobapp", "--as", "STOLEN"],
        &[
            "addons:attach",
            "redis-none-1",
            "-a",
            "bobapp",
            "--as",
            "STOLEN",
        ],
    );
    hidden(
        &["addons:destroy", &addon, "--confirm", "app1"],
        &["addons:destroy", "redis-none-1", "--confirm", "nosuchapp"],
    );
    let listed = text(&as_bob(&["apps"]));
    assert!(
        listed.contains("bobapp") && !listed.contains("app1"),
        "{listed}"
    );
    let addons = text(&as_bob(&["addons"]));
    assert!(!addons.contains(&addon), "{addons}");
    assert!(!as_bob(&["apps", "--all"]).status.success());

    // git: a push and a clone are refused before git runs.
    let bob_ssh = server.ssh_command_with_key(&bob);
    repo.write("server.py", "raise SystemExit('bob was here')\n");
    repo.commit("bob's change");
    let pushed = repo
        .git_command(&["push", "deploy", "master"])
        .env("GIT_SSH_COMMAND", &bob_ssh)
        .output()
        .unwrap();
    assert!(!pushed.status.success(), "{}", text(&pushed));
    assert!(
        text(&pushed).contains("app `app1` does not exist"),
        "{}",
        text(&pushed)
    );
    let cloned = clone(&server, "app1", &bob_ssh);
    assert!(!cloned.status.success(), "{}", text(&cloned));
    assert!(
        text(&cloned).contains("app `app1` does not exist"),
        "{}",
        text(&cloned)
    );
    assert_eq!(server.get("app1", "/"), (200, "Hello from web.1\n".into()));
    assert_eq!(
        server.ok(&["config:get", "SECRET", "-a", "app1"]).trim(),
        "s3cret-value"
    );

    // The audit trail holds bob's refusals and the admin's change, and no
    // config value.
    let trail = server.ok(&["audit", "--json"]);
    assert!(!trail.contains("s3cret"), "{trail}");
    let trail: Vec<serde_json::Value> = serde_json::from_str(&trail).unwrap();
    let has = |user: &str, command: &str, result: &str| {
        trail.iter().any(|e| {
            e["user"] == user
                && e["command"].as_str().unwrap().starts_with(command)
                && e["result"].as_str().unwrap().starts_with(result)
                && e["key"].as_str().unwrap().starts_with("SHA256:")
        })
    };
    assert!(
        has("admin", "config:set SECRET=… -a app1", "ok"),
        "{trail:#?}"
    );
    assert!(
        has("admin", "git push refs/heads/master", "deployed v1"),
        "{trail:#?}"
    );
    assert!(
        has(
            "bob",
            "config:get SECRET -a app1",
            "error: app `app1` does not exist"
        ),
        "{trail:#?}"
    );
    assert!(
        has(
            "bob",
            "apps:destroy -a app1",
            "error: app `app1` does not exist"
        ),
        "{trail:#?}"
    );
    assert!(
        has("bob", "git push", "refused: app `app1` does not exist"),
        "{trail:#?}"
    );
    // bob reads the trail of his own app only.
    let bobs = text(&as_bob(&["audit", "--json"]));
    let bobs: Vec<serde_json::Value> = serde_json::from_str(&bobs).unwrap();
    assert!(
        !bobs.is_empty() && bobs.iter().all(|e| e["app"] == "bobapp"),
        "{bobs:#?}"
    );

    // A collaborator deploys and configures, and cannot destroy.
    server.ok(&["access:add", "bob", "-a", "app1"]);
    let access = server.ok(&["access", "-a", "app1"]);
    assert!(
        access
            .lines()
            .any(|l| l.split_whitespace().eq(["admin", "owner"]))
            && access
                .lines()
                .any(|l| l.split_whitespace().eq(["bob", "collaborator"])),
        "{access}"
    );
    repo.write(
        "server.py",
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello/server.py"),
        )
        .unwrap()
        .replace("Hello", "Hi"),
    );
    repo.commit("bob's good change");
    let pushed = repo
        .git_command(&["push", "deploy", "master"])
        .env("GIT_SSH_COMMAND", &bob_ssh)
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert_eq!(server.get("app1", "/"), (200, "Hi from web.1\n".into()));
    assert!(as_bob(&["config:set", "FOO=bar", "-a", "app1"])
        .status
        .success());
    let destroy = as_bob(&["apps:destroy", "-a", "app1", "--confirm", "app1"]);
    assert!(!destroy.status.success());
    assert!(
        text(&destroy).contains("only the owner of `app1`"),
        "{}",
        text(&destroy)
    );
    let refused = as_bob(&["access:add", "bob", "-a", "app1"]);
    assert!(
        text(&refused).contains("only the owner of `app1`"),
        "{}",
        text(&refused)
    );
    assert!(text(&as_bob(&["apps"])).contains("app1"));

    // Transferred, bob owns it; the admin stays on as a collaborator.
    server.ok(&["apps:transfer", "bob", "-a", "app1"]);
    let access = text(&as_bob(&["access", "-a", "app1", "--json"]));
    let access: serde_json::Value = serde_json::from_str(&access).unwrap();
    assert_eq!(
        access,
        serde_json::json!([
            {"user": "bob", "role": "owner"},
            {"user": "admin", "role": "collaborator"}
        ])
    );
    let unknown = server.cmd(&["apps:transfer", "carol", "-a", "app1"]);
    assert!(
        text(&unknown).contains("no user `carol`"),
        "{}",
        text(&unknown)
    );
}

#[test]
fn a_deploy_key_pushes_to_its_app_and_does_nothing_else() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "shipped");
    repo.push_ok();
    server.repo("examples/hello", "other").push_ok();
    let ci = server.add_user("ci");
    server.ok(&["keys:remove", "ci"]);
    let public = ci.with_extension("pub");
    let added = server.local(&[
        "keys:add",
        "--deploy",
        "-a",
        "shipped",
        public.to_str().unwrap(),
    ]);
    assert!(
        text(&added).contains("Added deploy key SHA256:") && text(&added).contains("for shipped"),
        "{}",
        text(&added)
    );
    let keys = server.ok(&["keys"]);
    assert!(keys.contains("deploy key for shipped"), "{keys}");

    let ci_ssh = server.ssh_command_with_key(&ci);
    repo.write("NOTES", "from CI\n");
    repo.commit("from CI");
    let pushed = repo
        .git_command(&["push", "deploy", "master"])
        .env("GIT_SSH_COMMAND", &ci_ssh)
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert!(text(&pushed).contains("Released v2"), "{}", text(&pushed));
    let builds = server.cmd_with_key(&ci, &["builds", "-a", "shipped"]);
    assert!(builds.status.success(), "{}", text(&builds));

    for args in [
        &["config", "-a", "shipped"][..],
        &["config:set", "A=1", "-a", "shipped"],
        &["apps"],
        &["run", "-a", "shipped", "true"],
        &["builds", "-a", "other"],
    ] {
        let refused = server.cmd_with_key(&ci, args);
        assert!(!refused.status.success(), "`{}` ran", args.join(" "));
        assert!(
            text(&refused).contains("this is a deploy key for `shipped`"),
            "{}",
            text(&refused)
        );
    }
    let other = repo
        .git_command(&["push", &format!("{}/other", server.address()), "master"])
        .env("GIT_SSH_COMMAND", &ci_ssh)
        .output()
        .unwrap();
    assert!(!other.status.success());
    assert!(
        text(&other).contains("app `other` does not exist"),
        "{}",
        text(&other)
    );
    let cloned = clone(&server, "shipped", &ci_ssh);
    assert!(
        !cloned.status.success(),
        "a deploy key cloned:\n{}",
        text(&cloned)
    );
}

#[test]
fn installing_over_an_install_from_before_owners_gives_its_apps_to_the_admin() {
    let server = TestServer::start();
    server.repo("examples/hello", "legacy").push_ok();
    // An app as paas wrote it before owners: no `owner` in its settings.
    let settings = server.root.path().join("apps/legacy/app.toml");
    let old: String = std::fs::read_to_string(&settings)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("owner"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&settings, old).unwrap();
    let bob = server.add_user("bob");
    // Until the install runs again, only admins may act on it.
    let hidden = server.cmd_with_key(&bob, &["config", "-a", "legacy"]);
    assert!(
        text(&hidden).contains("app `legacy` does not exist"),
        "{}",
        text(&hidden)
    );

    let installed = server.try_install(&[]);
    assert!(installed.status.success(), "{}", text(&installed));
    assert!(
        text(&installed).contains("apps from before owners are now owned by `admin`: legacy"),
        "{}",
        text(&installed)
    );
    let access = server.ok(&["access", "-a", "legacy", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&access).unwrap(),
        serde_json::json!([{"user": "admin", "role": "owner"}])
    );
    // The app's files stay the owner's: a change after the install works.
    server.ok(&["config:set", "A=1", "-a", "legacy"]);
    assert_eq!(server.get("legacy", "/").0, 200);
    let again = server.try_install(&[]);
    assert!(
        !text(&again).contains("apps from before owners"),
        "{}",
        text(&again)
    );
}
