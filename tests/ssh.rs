//! The SSH entry: only known keys, only git's pack commands and paas
//! commands, never a shell.

use crate::harness::{text, TestServer};

#[test]
fn unknown_keys_are_refused() {
    let server = TestServer::start();
    let stranger = tempfile::tempdir().unwrap();
    let key = stranger.path().join("id_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let output = server.ssh_raw_with_key(&key, "apps");
    assert!(!output.status.success());
    assert!(
        text(&output).contains("Permission denied (publickey)"),
        "{}",
        text(&output)
    );
}

#[test]
fn hostile_commands_are_refused_without_a_shell() {
    let server = TestServer::start();
    let marker = server.root.path().join("pwned");
    let hostile = [
        format!("apps; touch {}", marker.display()),
        format!("apps && touch {}", marker.display()),
        format!("apps | touch {}", marker.display()),
        format!("config:set -a x A=$(touch {})", marker.display()),
        format!("config:set -a x A=`touch {}`", marker.display()),
        "git-receive-pack '../../etc'".to_string(),
        "git-upload-pack '/etc/passwd'".to_string(),
        "bash".to_string(),
        "sh -c id".to_string(),
    ];
    for command in &hostile {
        let output = server.ssh_raw(command);
        assert!(
            !output.status.success(),
            "`{command}` must be refused:\n{}",
            text(&output)
        );
        assert!(
            text(&output).contains("error:"),
            "`{command}`:\n{}",
            text(&output)
        );
    }
    assert!(!marker.exists(), "no hostile command ran");
    let login = server.ssh_raw("");
    assert!(!login.status.success());
    assert!(
        text(&login).contains("no shell is offered"),
        "{}",
        text(&login)
    );
    // A plain paas command works.
    assert!(server.ok(&["apps"]).contains("=== Apps"));
}

#[test]
fn git_accepts_every_path_form_and_creates_the_app_on_first_push() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "forms");
    repo.git(&[
        "remote",
        "set-url",
        "deploy",
        &format!("ssh://paas@127.0.0.1:{}/forms.git", server.ssh_port),
    ]);
    let output = repo.push_ok();
    assert!(output.contains("Created app `forms`"), "{output}");
    assert!(server.ok(&["apps"]).contains("forms"));
    // Clone it back (git-upload-pack) with the `~/` form.
    let clone = tempfile::tempdir().unwrap();
    let url = format!("ssh://paas@127.0.0.1:{}/~/forms", server.ssh_port);
    let cloned = repo.git(&[
        "clone",
        "-q",
        &url,
        clone.path().join("c").to_str().unwrap(),
    ]);
    assert!(cloned.status.success(), "{}", text(&cloned));
    assert!(clone.path().join("c/Procfile").exists());
}

#[test]
fn a_pushed_symlink_cannot_make_paas_read_host_files() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "sneaky");
    std::fs::remove_file(repo.dir.path().join("Procfile")).unwrap();
    let target = server.root.path().join("paas.toml");
    std::os::unix::fs::symlink(&target, repo.dir.path().join("Procfile")).unwrap();
    // A buildpack that builds it anyway, so the host reads the Procfile.
    repo.write("requirements.txt", "");
    repo.commit("Procfile points at the server's settings");
    let output = repo.push();
    let said = text(&output);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("`Procfile` must be a regular file, not a symlink or directory"),
        "{said}"
    );
    assert!(
        !said.contains("domain =") && !said.contains("install_id"),
        "nothing of the host file is echoed:\n{said}"
    );
}
