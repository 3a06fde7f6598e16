//! The laptop side: the same `paas` binary, with no install of its own,
//! run from a git repository whose `deploy` remote is the test server.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::harness::{git_output, paas_bin, text, wait_until, TestServer};

fn output(mut command: Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

fn with_stdin(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn succeeds(output: Output) -> String {
    assert!(output.status.success(), "failed:\n{}", text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(output: Output) -> serde_json::Value {
    let stdout = succeeds(output);
    serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("not JSON ({err}):\n{stdout}"))
}

/// `program` with the environment and directory of a client command.
fn like(template: &Command, program: &str) -> Command {
    let mut command = Command::new(program);
    for (key, value) in template.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    if let Some(dir) = template.get_current_dir() {
        command.current_dir(dir);
    }
    command
}

#[test]
fn the_client_finds_server_and_app_in_the_deploy_remote() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "laptop");
    repo.push_ok();
    let home = tempfile::tempdir().unwrap();
    let dir = repo.dir.path();
    let client = |args: &[&str]| server.client(dir, home.path(), args);

    let ps = succeeds(output(client(&["ps"])));
    assert!(ps.contains("=== web (1): python3 server.py"), "{ps}");
    assert!(ps.contains("web.1: up"), "{ps}");

    // Values a shell would act on arrive as typed.
    let value = "postgres://u:p@h/db?a=1&b=$HOME;x 'y'";
    succeeds(output(client(&["config:set", &format!("WEIRD={value}")])));
    assert_eq!(
        succeeds(output(client(&["config:get", "WEIRD"]))).trim_end(),
        value
    );
    // `KEY=value` lines on stdin, what `config --shell` prints.
    succeeds(with_stdin(
        client(&["config:set"]),
        "# from a file\nFROM_STDIN=yes\nQUOTED='two words'\n",
    ));
    let config = json(output(client(&["config", "--json"])));
    assert_eq!(config["FROM_STDIN"], "yes");
    assert_eq!(config["QUOTED"], "two words");
    assert_eq!(config["WEIRD"], value);
    assert_eq!(server.get("laptop", "/").0, 200);

    // `--json` of the listing commands parses and says what `ps` says.
    let ps = json(output(client(&["ps", "--json"])));
    assert_eq!(ps["formation"][0]["type"], "web");
    assert_eq!(ps["formation"][0]["quantity"], 1);
    assert_eq!(ps["dynos"][0]["name"], "web.1");
    assert_eq!(ps["dynos"][0]["state"], "up");
    let releases = json(output(client(&["releases", "--json"])));
    assert_eq!(releases[0]["current"], true);
    assert!(releases[0]["description"]
        .as_str()
        .unwrap()
        .starts_with("Set "));
    let apps = json(output(client(&["apps", "--json"])));
    assert_eq!(apps[0]["name"], "laptop");
    assert_eq!(
        apps[0]["web_url"],
        format!("http://laptop.localhost:{}/", server.http_port)
    );

    // `-a` wins over the remote's app; `ps scale` is `ps:scale`.
    succeeds(output(client(&["apps:create", "second"])));
    let err = output(client(&["-a", "second", "ps", "scale", "web=1"]));
    assert_eq!(err.status.code(), Some(1), "{}", text(&err));
    assert!(
        text(&err).contains("`second` has not been deployed yet"),
        "{}",
        text(&err)
    );

    // Exit codes come back unchanged.
    let missing = output(client(&["config:get", "NOPE"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).contains("`laptop` has no config var `NOPE`"));
    let unknown = output(client(&["-a", "nosuchapp", "ps"]));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown).contains("app `nosuchapp` does not exist"),
        "{}",
        text(&unknown)
    );
    // A missing argument is a usage error (`ps:scale` alone now shows the
    // formation, #21).
    let usage = output(client(&["ps:resize"]));
    assert_eq!(usage.status.code(), Some(2), "{}", text(&usage));
    let typo = output(client(&["ps:scal", "web=1"]));
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        text(&typo).contains("did you mean `ps:scale`?"),
        "{}",
        text(&typo)
    );
    let exit = output(client(&["run", "sh", "-c", "echo out; exit 3"]));
    assert_eq!(exit.status.code(), Some(3), "{}", text(&exit));
    assert!(text(&exit).contains("out"));

    // A command that takes no input leaves stdin to the script around it.
    let script = format!("{} ps > /dev/null && cat", paas_bin());
    let mut loop_in_a_script = like(&client(&[]), "sh");
    loop_in_a_script.args(["-c", &script]);
    let kept = with_stdin(loop_in_a_script, "line 1\nline 2\n");
    assert_eq!(succeeds(kept), "line 1\nline 2\n");

    assert_eq!(
        succeeds(output(client(&["open"]))).trim(),
        format!("http://laptop.localhost:{}/", server.http_port)
    );
}

#[test]
fn a_terminal_command_gets_a_terminal_on_the_server() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "tty");
    repo.push_ok();
    let home = tempfile::tempdir().unwrap();
    // `script` runs the client under a pseudo-terminal, as a person's shell would.
    let line = format!("{} run sh -c 'test -t 0 && echo hi from a tty'", paas_bin());
    let template = server.client(repo.dir.path(), home.path(), &[]);
    let mut command = like(&template, "script");
    command.args(["-qec", &line, "/dev/null"]);
    let result = output(command);
    assert!(result.status.success(), "{}", text(&result));
    assert!(text(&result).contains("hi from a tty"), "{}", text(&result));
}

#[test]
fn apps_create_adds_the_deploy_remote_and_git_remote_points_it() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    git_output(dir.path(), &["init", "-q", "-b", "master"]);
    let address = server.address();
    let client = |args: &[&str]| server.client(dir.path(), home.path(), args);

    let created = succeeds(output(client(&["--remote", &address, "apps:create"])));
    let url = git_output(dir.path(), &["remote", "get-url", "deploy"]);
    let generated = url.rsplit('/').next().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{address}/")) && created.contains(&generated),
        "{url}\n{created}"
    );
    // The remote now names server and app for every command.
    let info = succeeds(output(client(&["apps:info"])));
    assert!(info.contains(&format!("=== {generated}")), "{info}");

    succeeds(output(client(&["apps:create", "other-app"])));
    assert_eq!(
        git_output(dir.path(), &["remote", "get-url", "deploy"]),
        url
    );
    succeeds(output(client(&["git:remote", "-a", "other-app"])));
    assert_eq!(
        git_output(dir.path(), &["remote", "get-url", "deploy"]),
        format!("{address}/other-app")
    );
    let unknown = output(client(&["git:remote", "-a", "nope"]));
    assert!(!unknown.status.success());
    assert!(text(&unknown).contains("app `nope` does not exist"));
    assert_eq!(
        git_output(dir.path(), &["remote", "get-url", "deploy"]),
        format!("{address}/other-app")
    );
}

#[test]
fn a_newcomer_is_told_what_to_do_next() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = |args: &[&str]| server.client(dir.path(), home.path(), args);

    let nowhere = output(client(&["ps"]));
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(
        text(&nowhere).contains("no paas server to talk to")
            && text(&nowhere).contains("git remote add deploy"),
        "{}",
        text(&nowhere)
    );

    // Nothing listens on port 1 (a privileged port no test server gets).
    let closed_port = 1;
    let down = output(client(&[
        "--remote",
        &format!("ssh://paas@127.0.0.1:{closed_port}/x"),
        "ps",
    ]));
    assert_eq!(down.status.code(), Some(255));
    assert!(
        text(&down).contains(&format!(
            "cannot reach the server at 127.0.0.1:{closed_port}"
        )),
        "{}",
        text(&down)
    );

    let stranger = home.path().join("stranger");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(keygen.success());
    let mut refused = client(&["--remote", &server.address(), "apps"]);
    refused.env("GIT_SSH_COMMAND", server.ssh_command_with_key(&stranger));
    let refused = output(refused);
    assert_eq!(refused.status.code(), Some(255));
    assert!(
        text(&refused).contains("refused your SSH key") && text(&refused).contains("keys:add"),
        "{}",
        text(&refused)
    );
}

#[test]
fn keys_are_added_listed_and_removed_without_locking_admins_out() {
    let server = TestServer::start();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let address = server.address();
    let client = |args: &[&str]| {
        let mut words = vec!["--remote", address.as_str()];
        words.extend_from_slice(args);
        server.client(dir.path(), home.path(), &words)
    };
    let keys = json(output(client(&["keys", "--json"])));
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["user"], "admin");
    assert_eq!(keys[0]["admin"], true);
    let admin_fingerprint = keys[0]["fingerprint"].as_str().unwrap().to_string();

    // From a laptop, `keys:add` finds ~/.ssh/id_ed25519.pub.
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    let dev_key = home.path().join(".ssh/id_ed25519");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "dev@laptop", "-f"])
        .arg(&dev_key)
        .status()
        .unwrap();
    assert!(keygen.success());
    let added = output(client(&["keys:add", "--user", "dev"]));
    assert!(
        text(&added).contains("Added key SHA256:") && text(&added).contains("for dev"),
        "{}",
        text(&added)
    );
    let again = output(client(&["keys:add", "--user", "dev"]));
    assert!(
        text(&again).contains("already added, for `dev`"),
        "{}",
        text(&again)
    );
    // A private key named by mistake never leaves the laptop.
    let private = output(client(&["keys:add", dev_key.to_str().unwrap()]));
    assert!(
        text(&private).contains("is not an SSH public key")
            && !text(&private).contains("Uploading"),
        "{}",
        text(&private)
    );
    std::fs::write(dir.path().join("bad.pub"), "not a key\n").unwrap();
    let bad = output(client(&["keys:add", "bad.pub"]));
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("not an SSH public key"),
        "{}",
        text(&bad)
    );

    // The new key logs in, as `dev`, and sees only its own keys.
    let as_dev = |args: &[&str]| {
        let mut command = client(args);
        command.env("GIT_SSH_COMMAND", server.ssh_command_with_key(&dev_key));
        command
    };
    let mine = json(output(as_dev(&["keys", "--json"])));
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine[0]["user"], "dev");
    assert_eq!(mine[0]["comment"], "dev@laptop");
    let not_admin = output(as_dev(&["keys:add", "--user", "eve"]));
    assert!(
        text(&not_admin).contains("only an admin"),
        "{}",
        text(&not_admin)
    );
    let not_yours = output(as_dev(&["keys:remove", &admin_fingerprint]));
    assert!(text(&not_yours).contains("no key of yours matches"));

    // The only admin key stays.
    let last = output(client(&["keys:remove", &admin_fingerprint]));
    assert!(!last.status.success());
    assert!(text(&last).contains("last admin key"), "{}", text(&last));
    assert!(output(client(&["apps"])).status.success());

    succeeds(output(client(&["keys:remove", "dev@laptop"])));
    let gone = output(as_dev(&["apps"]));
    assert_eq!(gone.status.code(), Some(255), "{}", text(&gone));
    let authorized =
        std::fs::read_to_string(server.root.path().join("keys/authorized_keys")).unwrap();
    assert_eq!(authorized.lines().count(), 1, "{authorized}");
    // The forced command names the key too, for the audit trail (#20).
    let line = authorized.lines().next().unwrap();
    assert!(
        line.contains("ssh-command --user admin --key SHA256:")
            && line.contains("\",restrict,pty "),
        "{line}"
    );
}

#[test]
fn the_bash_completion_script_completes_commands_apps_and_process_types() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "completed");
    repo.push_ok();
    let completions = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    // bash itself: the script registers, and completes commands and apps.
    let home = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(paas_bin())
        .parent()
        .unwrap()
        .display()
        .to_string();
    let complete = |line: &str| {
        let script = format!(
            r#"source {}/paas.bash
complete -p paas
COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}
read -r -a COMP_WORDS <<< "$COMP_LINE"; COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_paas
compgen -W "${{COMPREPLY[*]}}" --"#,
            completions.display()
        );
        let template = server.client(repo.dir.path(), home.path(), &[]);
        let mut bash = like(&template, "bash");
        bash.args(["--norc", "-c", &script]).env(
            "PATH",
            format!("{bin_dir}:{}", std::env::var("PATH").unwrap()),
        );
        succeeds(output(bash))
    };
    let commands = complete("paas apps:c");
    assert!(commands.contains(" -F _paas paas"), "{commands}");
    assert!(commands.lines().any(|l| l == "create"), "{commands}");
    let apps = complete("paas ps -a ");
    assert!(apps.lines().any(|l| l == "completed"), "{apps}");
    let types = complete("paas ps:scale -a completed ");
    assert!(types.lines().any(|l| l == "web="), "{types}");
    // bash breaks words at `=` too: only what follows it is completed.
    let value = complete("paas ps --color=al");
    assert!(value.lines().any(|l| l == "always"), "{value}");
    let addons = complete("paas addons:");
    assert!(addons.lines().any(|l| l == "create"), "{addons}");

    // Add-on names complete, asked of the server through the client.
    let created = server.ok(&["addons:create", "postgres", "-a", "completed"]);
    let name = created
        .lines()
        .find_map(|l| l.strip_prefix("Creating ")?.split(' ').next())
        .expect("a Creating line")
        .to_string();
    let names = complete("paas addons:info ");
    assert!(names.lines().any(|l| l == name), "{names}");

    // A backup streams to a file on the laptop, byte for byte the server's.
    server.ok(&["pg:backups:capture", "-a", "completed"]);
    let file = home.path().join("latest.dump");
    let mut download = server.client(repo.dir.path(), home.path(), &["pg:backups:download"]);
    download.stdout(std::fs::File::create(&file).unwrap());
    let status = download.stdin(Stdio::null()).status().unwrap();
    assert!(status.success());
    let sha = server.backup_sha256("completed", None);
    let local = Command::new("sha256sum").arg(&file).output().unwrap();
    assert!(
        String::from_utf8_lossy(&local.stdout).starts_with(&sha),
        "{} vs {sha}",
        String::from_utf8_lossy(&local.stdout)
    );
    // `--json` lists it with the same checksum.
    let rows = json(server.cmd(&["pg:backups", "-a", "completed", "--json"]));
    assert_eq!(rows[0]["id"], "b001");
    assert_eq!(rows[0]["sha256"], sha.as_str());
}

/// Ctrl-C as a terminal sends it: SIGINT to the whole foreground group.
fn ctrl_c(child: &std::process::Child) {
    unsafe {
        libc::kill(-(child.id() as i32), libc::SIGINT);
    }
}

#[test]
fn ctrl_c_on_the_laptop_ends_the_command_on_the_server() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "interrupted");
    repo.push_ok();
    let home = tempfile::tempdir().unwrap();
    let server_side = || {
        let pattern = format!("{} ssh-command", server.root.path().display());
        let output = Command::new("pgrep")
            .args(["-f", &pattern])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).lines().count()
    };
    for args in [&["run", "sleep", "300"][..], &["logs", "--tail"][..]] {
        let mut command = server.client(repo.dir.path(), home.path(), args);
        command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut client = command.spawn().unwrap();
        wait_until(
            "the command to run on the server",
            Duration::from_secs(30),
            || server_side() >= 1,
        );
        if args[0] == "run" {
            wait_until("run.1 in `ps`", Duration::from_secs(30), || {
                server
                    .ok(&["ps", "-a", "interrupted"])
                    .contains("run.1: up")
            });
        }
        ctrl_c(&client);
        let status = client.wait().unwrap();
        assert!(!status.success());
        wait_until("the server side to end", Duration::from_secs(30), || {
            server_side() == 0
        });
    }
    let ps = server.ok(&["ps", "-a", "interrupted"]);
    assert!(!ps.contains("run.1"), "the one-off dyno was stopped:\n{ps}");
}
