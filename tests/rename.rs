//! `apps:rename` (#21 point 5): the app runs on under its new name with
//! everything it had, the old name is gone, a laptop's remotes and CI's
//! deploy key follow, a rename whose dynos fail changes nothing, and
//! a rename a killed command left half done is finished by the daemon.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{created_addon, git_output, text, wait_for, Poller, TestServer};

/// The install's app networks, by the app they are named after.
fn app_networks(server: &TestServer) -> Vec<String> {
    let prefix = format!("paas-{}-app-", server.install_id());
    server
        .podman(&["network", "ls", "--format", "{{.Name}}"])
        .lines()
        .filter_map(|n| n.strip_prefix(&prefix).map(String::from))
        .collect()
}

#[test]
fn a_renamed_app_runs_on_under_its_new_name_with_everything_it_had() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/notes", "shop");
    repo.push_ok();
    server.ok(&["config:set", "GREETING=Howdy", "-a", "shop"]);
    let postgres = created_addon(&server.ok(&["addons:create", "postgres", "-a", "shop"]));
    let (code, body) = server.get_with("shop", "/add?n=3", &["-m", "60"]);
    assert_eq!((code, body.as_str()), (200, "3\n"));
    server.ok(&["domains:add", "www.shop.test", "-a", "shop"]);
    let releases = server.ok(&["releases", "--json", "-a", "shop"]);
    assert!(releases.contains("Attach DATABASE"), "{releases}");
    assert!(app_networks(&server).contains(&"shop".to_string()));

    // The custom domain serves throughout: the new hostname first from
    // the dynos running under the old name, then from the new ones.
    let poller = Poller::start(server.http_port, "www.shop.test");
    std::thread::sleep(Duration::from_millis(500));
    let output = server.cmd(&["apps:rename", "market", "-a", "shop"]);
    std::thread::sleep(Duration::from_millis(500));
    let (served, failures, _) = poller.stop();
    assert!(output.status.success(), "{}", text(&output));
    let said = text(&output);
    // The daemon's pass over add-ons may hold the database's lock for a
    // moment: the rename then says it waits before it says `done`.
    let renaming = said.split("Renaming shop to market... ").nth(1);
    assert!(
        renaming.is_some_and(|rest| rest.lines().any(|line| line.ends_with("done"))),
        "{said}"
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!(
            "http://market.localhost:{}/ | ssh://paas@127.0.0.1:{}/market",
            server.http_port, server.ssh_port
        )
    );
    assert!(
        failures.is_empty() && served > 10,
        "{} of {served} requests failed; the first: {:?}",
        failures.len(),
        failures.first()
    );

    // The router: the new name and the custom domain, not the old name.
    assert_eq!(server.get("market", "/"), (200, "notes on web.1\n".into()));
    assert_eq!(server.get_host("www.shop.test").0, 200);
    assert_eq!(server.get("shop", "/").0, 404);
    // Its database, through the attachment, from the new network.
    assert_eq!(
        server.get_when_200("market", "/count", Duration::from_secs(30)),
        (200, "3".into())
    );
    // Config, releases (a rename makes none), add-ons, domains, dynos.
    assert_eq!(
        server
            .ok(&["config:get", "GREETING", "-a", "market"])
            .trim(),
        "Howdy"
    );
    assert_eq!(server.ok(&["releases", "--json", "-a", "market"]), releases);
    let addons = server.ok(&["addons", "-a", "market"]);
    assert!(
        addons.contains(&postgres) && addons.contains("DATABASE_URL"),
        "{addons}"
    );
    let info = server.ok(&["addons:info", &postgres, "-a", "market"]);
    assert!(info.contains("App:         market\n"), "{info}");
    assert!(
        info.contains("Attached:    market as DATABASE_URL\n"),
        "{info}"
    );
    assert!(server
        .ok(&["domains", "-a", "market"])
        .contains("www.shop.test"));
    let ps = server.ok(&["ps", "-a", "market"]);
    assert!(ps.contains("web.1: up"), "{ps}");
    // The old name is unknown, its dynos and network gone.
    server.refused(&["apps:info", "-a", "shop"], "app `shop` does not exist");
    assert!(server.containers("shop").is_empty());
    let networks = app_networks(&server);
    assert!(
        networks.contains(&"market".to_string()) && !networks.contains(&"shop".to_string()),
        "{networks:?}"
    );
    let audit = server.ok(&["audit", "-a", "market"]);
    assert!(audit.contains("apps:rename market -a shop"), "{audit}");

    // A push to the new name deploys, and the data is still there.
    repo.git(&[
        "remote",
        "set-url",
        "deploy",
        &format!("ssh://paas@127.0.0.1:{}/market", server.ssh_port),
    ]);
    repo.write("CHANGES", "after the rename\n");
    repo.commit("after the rename");
    let pushed = repo.push_ok();
    assert!(pushed.contains("Building market"), "{pushed}");
    assert_eq!(
        server.get_when_200("market", "/count", Duration::from_secs(30)),
        (200, "3".into())
    );
    assert!(server.ok(&["releases", "-a", "market"]).contains("v4"));
}

#[test]
fn renames_from_a_laptop_follow_the_remote_and_refusals_change_nothing() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "laptop");
    repo.push_ok();
    server.repo("examples/hello", "taken").push_ok();
    let home = tempfile::tempdir().unwrap();
    let dir = repo.dir.path();
    let client = |args: &[&str]| {
        let output = server
            .client(dir, home.path(), args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (output.status.success(), text(&output))
    };

    // Refused: a taken name, the same name, a bad name, a collaborator.
    let (ok, said) = client(&["rename", "taken"]);
    assert!(
        !ok && said.contains("the name `taken` is taken by another app"),
        "{said}"
    );
    let (ok, said) = client(&["apps:rename", "laptop"]);
    assert!(
        !ok && said.contains("`laptop` is already the app's name"),
        "{said}"
    );
    let (ok, said) = client(&["apps:rename", "Bad_Name"]);
    assert!(
        !ok && said.contains("app name `Bad_Name` must start with a lowercase letter"),
        "{said}"
    );
    let bob = server.add_user("bob");
    server.ok(&["access:add", "bob", "-a", "laptop"]);
    let output = server.cmd_with_key(&bob, &["apps:rename", "laptop", "bobs"]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("only the owner of `laptop` or an admin may do that"),
        "{}",
        text(&output)
    );
    assert_eq!(server.get("laptop", "/").0, 200);
    assert_eq!(server.get("taken", "/").0, 200);
    // CI's deploy key pushes to the app whatever its name.
    let ci = server.add_user("ci");
    server.ok(&["keys:remove", "ci"]);
    let public = ci.with_extension("pub");
    let added = server.local(&[
        "keys:add",
        "--deploy",
        "-a",
        "laptop",
        public.to_str().unwrap(),
    ]);
    assert!(added.status.success(), "{}", text(&added));

    // From the repository: its `deploy` remote follows the app.
    let (ok, said) = client(&["rename", "moved"]);
    assert!(ok, "{said}");
    assert!(said.contains("Renaming laptop to moved... done"), "{said}");
    assert!(said.contains("Git remote deploy updated"), "{said}");
    assert!(
        said.contains("Don't forget to update git remotes for all other local checkouts of the app: paas git:remote -a moved"),
        "{said}"
    );
    assert_eq!(
        git_output(dir, &["remote", "get-url", "deploy"]),
        format!("ssh://paas@127.0.0.1:{}/moved", server.ssh_port)
    );
    let (ok, ps) = client(&["ps"]);
    assert!(ok && ps.contains("web.1: up"), "{ps}");
    assert!(server.ok(&["keys"]).contains("deploy key for moved"));
    repo.write("CHANGES", "moved\n");
    repo.commit("moved");
    let pushed = repo
        .git_command(&["push", "deploy", "master"])
        .env("GIT_SSH_COMMAND", server.ssh_command_with_key(&ci))
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert!(
        text(&pushed).contains("Building moved"),
        "{}",
        text(&pushed)
    );
    assert_eq!(server.get("moved", "/"), (200, "Hello from web.1\n".into()));
    assert_eq!(server.get("laptop", "/").0, 404);
    // `apps:rename OLD NEW` names the app itself.
    let (ok, said) = client(&["apps:rename", "moved", "back"]);
    assert!(ok, "{said}");
    assert!(said.contains("Git remote deploy updated"), "{said}");
    assert_eq!(server.get("back", "/"), (200, "Hello from web.1\n".into()));
}

#[test]
fn the_daemon_finishes_a_rename_whose_command_was_killed() {
    let server = TestServer::start();
    server.repo("examples/hello", "half").push_ok();
    let apps = server.root.path().join("apps");
    // What a command killed right after the commit leaves: the directory
    // under the new name, with the record, and the old name's dynos.
    let moved = Command::new("flock")
        .arg(apps.join("half/lock"))
        .arg("sh")
        .arg("-c")
        .arg(r#"printf 'from = "half"\nto = "whole"\n' > "$1/half/rename.toml" && mv "$1/half" "$1/whole""#)
        .arg("sh")
        .arg(&apps)
        .status()
        .unwrap();
    assert!(moved.success());
    wait_for(
        "the daemon to finish the rename",
        Duration::from_secs(90),
        || {
            let finished = !apps.join("whole/rename.toml").exists()
                && server.containers("half").is_empty()
                && server.get("whole", "/").0 == 200;
            match finished {
                true => Ok(()),
                false => Err(server.ok(&["ps", "-a", "whole"])),
            }
        },
    );
    assert_eq!(server.get("whole", "/"), (200, "Hello from web.1\n".into()));
    assert_eq!(server.get("half", "/").0, 404);
    assert!(!app_networks(&server).contains(&"half".to_string()));
}

#[test]
fn a_rename_whose_dynos_do_not_start_leaves_the_app_as_it_was() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "origin");
    // A check only a dyno named after `origin` passes: podman writes the
    // container's name into its `/etc/hosts`.
    repo.write(
        "app.json",
        r#"{"healthchecks": {"web": [{"type": "startup", "name": "named", "command": ["sh", "-c", "grep -q -- -origin-web /etc/hosts"]}]}}"#,
    );
    repo.commit("a check of the name");
    repo.push_ok();
    let running = server.containers("origin");
    assert_eq!(running.len(), 1, "{running:?}");

    let output = server.cmd(&["apps:rename", "origin", "renamed"]);
    assert!(!output.status.success(), "{}", text(&output));
    let said = text(&output);
    assert!(
        said.contains("`origin` keeps its name: its dynos did not start under the name `renamed`"),
        "{said}"
    );
    assert!(said.contains("`named`"), "{said}");
    // The dyno that served never stopped; nothing of the new name is left.
    assert_eq!(server.containers("origin"), running);
    assert_eq!(
        server.get("origin", "/"),
        (200, "Hello from web.1\n".into())
    );
    assert_eq!(server.get("renamed", "/").0, 404);
    assert!(server.containers("renamed").is_empty());
    server.refused(
        &["apps:info", "-a", "renamed"],
        "app `renamed` does not exist",
    );
    assert!(!app_networks(&server).contains(&"renamed".to_string()));
    let apps = server.root.path().join("apps");
    assert!(!apps.join("renamed").exists());
    assert!(!apps.join("origin/rename.toml").exists());
    assert!(server.ok(&["ps", "-a", "origin"]).contains("web.1: up"));
}

#[test]
fn a_rename_finished_after_its_old_name_was_taken_stops_only_its_own_dynos() {
    let server = TestServer::start();
    server.repo("examples/hello", "half").push_ok();
    let old_dynos = server.containers("half");
    assert!(!old_dynos.is_empty());
    let apps = server.root.path().join("apps");
    // A command killed right after the commit, its record naming the old
    // name's dynos; the lock held (by `flock`, for 15 s) keeps the daemon
    // from finishing it while a new app takes the old name.
    let containers: Vec<String> = old_dynos.iter().map(|c| format!("\"{c}\"")).collect();
    let record = format!(
        "from = \"half\"\nto = \"whole\"\ncontainers = [{}]\n",
        containers.join(", ")
    );
    let mut holder = Command::new("flock")
        .arg(apps.join("half/lock"))
        .arg("sh")
        .arg("-c")
        .arg(r#"printf '%s' "$2" > "$1/half/rename.toml" && mv "$1/half" "$1/whole" && sleep 15"#)
        .arg("sh")
        .arg(&apps)
        .arg(&record)
        .spawn()
        .unwrap();
    crate::harness::wait_until("the rename's commit", Duration::from_secs(10), || {
        apps.join("whole/rename.toml").exists()
    });
    server.ok(&["apps:create", "half"]);
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the new app came before the daemon could finish the rename"
    );
    assert!(holder.wait().unwrap().success());
    wait_for(
        "the daemon to finish the rename",
        Duration::from_secs(90),
        || {
            let left = server.containers("half");
            let finished = !apps.join("whole/rename.toml").exists()
                && left.is_empty()
                && server.get("whole", "/").0 == 200;
            match finished {
                true => Ok(()),
                false => Err(format!("{left:?}\n{}", server.ok(&["ps", "-a", "whole"]))),
            }
        },
    );
    assert_eq!(server.get("whole", "/"), (200, "Hello from web.1\n".into()));
    // The new app keeps its name's network.
    assert!(app_networks(&server).contains(&"half".to_string()));
}
