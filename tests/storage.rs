//! Persistent storage (#22 point 3): a file written in a mounted storage
//! outlives a redeploy and a rollback (a file a dyno writes elsewhere in
//! `/app` does not), one-off dynos see it, `storage` lists it with its
//! size, a backup taken from a laptop restores into another storage, and
//! bad paths, unknown storages and unconfirmed destroys are refused.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{text, wait_until, TestServer};

/// What the fixture's web dyno answers for `file`, once it is 200 (trimmed).
fn read(server: &TestServer, file: &str) -> String {
    let (code, body) = server.get_when_200(
        "cms",
        &format!("/read?path={file}"),
        Duration::from_secs(30),
    );
    assert_eq!(code, 200, "reading {file}: {body}");
    body
}

/// The storages `storage --json` lists, by name: (size, mounts as `app:path`).
fn listed(server: &TestServer) -> Vec<(String, u64, Vec<String>)> {
    let json: serde_json::Value = serde_json::from_str(&server.ok(&["storage", "--json"]))
        .expect("`storage --json` prints JSON");
    json.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mounts = s["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    format!(
                        "{}:{}",
                        m["app"].as_str().unwrap(),
                        m["path"].as_str().unwrap()
                    )
                })
                .collect();
            (
                s["name"].as_str().unwrap().to_string(),
                s["size"].as_u64().unwrap(),
                mounts,
            )
        })
        .collect()
}

#[test]
fn a_file_in_a_mounted_storage_outlives_redeploys_and_rollbacks() {
    let server = TestServer::start();
    let repo = server.repo("tests/apps/uploads", "cms");
    repo.push_ok();

    // What is refused, before anything is made.
    server.refused(
        &["storage:mount", "uploads", "/app/uploads", "-a", "cms"],
        "storage `uploads` does not exist",
    );
    server.refused(
        &["storage:create", "Uploads"],
        "storage name `Uploads` must start with a lowercase letter",
    );
    server.ok(&["storage:create", "uploads"]);
    server.refused(
        &["storage:create", "uploads"],
        "storage `uploads` already exists",
    );
    for (path, said) in [
        ("/etc", "`/etc` is a system directory"),
        ("/proc/x", "`/proc/x` is in `/proc`"),
        ("/etc/paas/env", "`/etc/paas/env` is in `/etc/paas`"),
        ("data", "`data` is not an absolute path"),
        ("/app", "`/app` is the app's own directory"),
        (
            "/app/../etc",
            "`/app/../etc` may not hold `.` or `..` parts",
        ),
    ] {
        server.refused(&["storage:mount", "uploads", path, "-a", "cms"], said);
    }

    // Mounting rolls the dynos; the web dyno writes through the mount.
    let before = server.containers("cms");
    let said = server.ok(&["storage:mount", "uploads", "/app/uploads", "-a", "cms"]);
    assert!(
        said.contains("Mounting uploads at /app/uploads on cms and restarting its dynos... done"),
        "{said}"
    );
    // The previous web dyno stands by for the checks' window, then goes.
    wait_until("the dynos replaced", Duration::from_secs(30), || {
        let after = server.containers("cms");
        !after.is_empty() && after.iter().all(|c| !before.contains(c))
    });
    server.refused(
        &["storage:mount", "uploads", "/app/elsewhere", "-a", "cms"],
        "`uploads` is already mounted on `cms` at `/app/uploads`",
    );
    let (code, _) = server.get("cms", "/write?path=uploads/cat.txt&text=meow");
    assert_eq!(code, 200);
    let (code, _) = server.get("cms", "/write?path=scratch.txt&text=gone");
    assert_eq!(code, 200);
    assert_eq!(read(&server, "scratch.txt"), "gone");

    // A one-off dyno sees it, and what it writes the web dyno reads.
    let cat = server.ok(&[
        "run",
        "-a",
        "cms",
        "bash",
        "-c",
        "cat /app/uploads/cat.txt; echo",
    ]);
    assert!(cat.lines().any(|l| l.trim() == "meow"), "{cat}");
    server.ok(&[
        "run",
        "-a",
        "cms",
        "bash",
        "-c",
        "echo woof > /app/uploads/dog.txt",
    ]);
    assert_eq!(read(&server, "uploads/dog.txt"), "woof");

    // A redeploy: new dynos, the same storage; a dyno's own writes are gone.
    repo.write("version.txt", "2");
    repo.commit("version 2");
    repo.push_ok();
    assert_eq!(read(&server, "version.txt"), "2");
    assert_eq!(read(&server, "uploads/cat.txt"), "meow");
    let (code, _) = server.get("cms", "/read?path=scratch.txt");
    assert_eq!(code, 404, "a file outside the storage went with its dyno");

    // A rollback runs the first code again, with the same files.
    server.ok(&["releases:rollback", "-a", "cms"]);
    assert_eq!(read(&server, "version.txt"), "1");
    assert_eq!(read(&server, "uploads/cat.txt"), "meow");
    assert_eq!(read(&server, "uploads/dog.txt"), "woof");

    // Listed with its size and where it is mounted.
    let storages = listed(&server);
    assert_eq!(storages.len(), 1, "{storages:?}");
    let (name, size, mounts) = &storages[0];
    assert_eq!(name, "uploads");
    assert_eq!(*size, 9, "`meow` and `woof\\n`");
    assert_eq!(*mounts, ["cms:/app/uploads"]);
    let table = server.ok(&["storage", "-a", "cms"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("uploads") && l.contains("9 B") && l.contains("/app/uploads")),
        "{table}"
    );

    // Destroying a mounted storage wants a confirmation.
    server.refused(
        &["storage:destroy", "uploads"],
        "destroying storage `uploads` deletes its files for good; it is mounted on `cms` at `/app/uploads`",
    );

    // A backup from the laptop, restored into another storage.
    let home = tempfile::tempdir().unwrap();
    let backup = home.path().join("uploads.tar.zst");
    let status = server
        .client(repo.dir.path(), home.path(), &["storage:backup", "uploads"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&backup).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let listing = Command::new("bash")
        .arg("-c")
        .arg(format!("zstd -dc {} | tar -t", backup.display()))
        .output()
        .unwrap();
    assert!(
        text(&listing).lines().any(|l| l == "./cat.txt"),
        "{}",
        text(&listing)
    );
    server.ok(&["storage:create", "copy"]);
    let restore = |input: std::fs::File, confirm: &str| {
        server
            .client(
                repo.dir.path(),
                home.path(),
                &["storage:restore", "copy", "--confirm", confirm],
            )
            .stdin(input)
            .output()
            .unwrap()
    };
    let refused = restore(std::fs::File::open(&backup).unwrap(), "uploads");
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("restoring replaces every file in storage `copy`"),
        "{}",
        text(&refused)
    );
    let restored = restore(std::fs::File::open(&backup).unwrap(), "copy");
    assert!(restored.status.success(), "{}", text(&restored));
    server.ok(&["storage:mount", "copy", "/app/copy", "-a", "cms"]);
    assert_eq!(read(&server, "copy/cat.txt"), "meow");
    // What a restore unpacks, the app owns and may change.
    let (code, said) = server.get("cms", "/write?path=copy/cat.txt&text=purr");
    assert_eq!((code, said.as_str()), (200, "wrote\n"));
    // Input that is not a backup leaves the files as they were.
    let junk = home.path().join("junk");
    std::fs::write(&junk, "not a backup at all").unwrap();
    let refused = restore(std::fs::File::open(&junk).unwrap(), "copy");
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("storage is as it was"),
        "{}",
        text(&refused)
    );
    assert_eq!(read(&server, "copy/dog.txt"), "woof");

    // A restore stages beside the files, not among them: the dynos never
    // see it. The backup comes slowly, so the restore is caught midway.
    let volume = format!("paas-{}-storage-copy", server.install_id());
    let files = server.podman(&["volume", "inspect", "--format", "{{.Mountpoint}}", &volume]);
    let staging = std::path::Path::new(files.trim())
        .parent()
        .unwrap()
        .join("paas-restore-in-progress");
    let mut slow = server
        .client(
            repo.dir.path(),
            home.path(),
            &["storage:restore", "copy", "--confirm", "copy"],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let whole = std::fs::read(&backup).unwrap();
    let mut input = slow.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, &whole[..whole.len() / 2]).unwrap();
    wait_until("the restore to stage", Duration::from_secs(30), || {
        staging.exists()
    });
    let seen = server.ok(&["run", "-a", "cms", "ls -a /app/copy"]);
    assert!(!seen.contains("restore"), "{seen}");
    std::io::Write::write_all(&mut input, &whole[whole.len() / 2..]).unwrap();
    drop(input);
    let restored = slow.wait_with_output().unwrap();
    assert!(restored.status.success(), "{}", text(&restored));
    assert!(!staging.exists());
    assert_eq!(read(&server, "copy/dog.txt"), "woof");

    // Another user sees none of it, and may not take a backup of it.
    let bob = server.add_user("bob");
    let listing = server.cmd_with_key(&bob, &["storage"]);
    assert!(text(&listing).contains("No storage."), "{}", text(&listing));
    let refused = server.cmd_with_key(&bob, &["storage:backup", "copy"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("storage `copy` does not exist"),
        "{}",
        text(&refused)
    );

    // Unmounted: the app no longer sees it, the files stay, and a prune
    // leaves the storage alone; then it is destroyed.
    let said = server.ok(&["storage:unmount", "uploads", "-a", "cms"]);
    assert!(said.contains("Its files stay in storage uploads"), "{said}");
    let (code, _) = server.get("cms", "/read?path=uploads/cat.txt");
    assert_eq!(code, 404);
    let pruned = server.local(&["server", "prune"]);
    assert!(pruned.status.success(), "{}", text(&pruned));
    let volumes = server.podman(&["volume", "ls", "--format", "{{.Name}}"]);
    let volume = format!("paas-{}-storage-uploads", server.install_id());
    assert!(volumes.lines().any(|v| v == volume), "{volumes}");
    assert_eq!(listed(&server)[1].1, 9, "{:?}", listed(&server));
    server.ok(&["storage:destroy", "uploads", "--confirm", "uploads"]);
    let volumes = server.podman(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(!volumes.lines().any(|v| v == volume), "{volumes}");
    let names: Vec<String> = listed(&server).into_iter().map(|s| s.0).collect();
    assert_eq!(names, ["copy"]);

    // Destroying a mounted storage, confirmed, unmounts it first.
    let said = server.ok(&["storage:destroy", "copy", "--confirm", "copy"]);
    assert!(
        said.contains("Unmounting copy from /app/copy on cms and restarting its dynos... done"),
        "{said}"
    );
    assert!(listed(&server).is_empty());
    let (code, _) = server.get("cms", "/read?path=copy/cat.txt");
    assert_eq!(code, 404);

    // A create killed part way (`kill -9`) leaves the name usable: here
    // before its record, then after the record but before the volume.
    let half = server.root.path().join("storage/half");
    std::fs::create_dir_all(&half).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "paas:"])
        .arg(&half)
        .status();
    assert!(chown.unwrap().success());
    server.ok(&["storage:create", "half"]);
    let volume = format!("paas-{}-storage-half", server.install_id());
    server.podman(&["volume", "rm", &volume]);
    // Only its maker finishes one with a record (apps may mount it).
    let taken = server.cmd_with_key(&bob, &["storage:create", "half"]);
    assert!(
        text(&taken).contains("storage `half` already exists"),
        "{}",
        text(&taken)
    );
    server.ok(&["storage:create", "half"]);
    let volumes = server.podman(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(volumes.lines().any(|v| v == volume), "{volumes}");
    server.refused(&["storage:create", "half"], "storage `half` already exists");
    // A storage may be mounted outside `/app` (an image app keeps its
    // files in `/data`, say).
    server.ok(&["storage:mount", "half", "/data", "-a", "cms"]);
    let wrote = server.ok(&["run", "-a", "cms", "echo kept > /data/file"]);
    let read = server.ok(&["run", "-a", "cms", "cat /data/file"]);
    assert!(read.contains("kept"), "{wrote}\n{read}");
    server.ok(&["storage:destroy", "half", "--confirm", "half"]);
    assert!(listed(&server).is_empty());
}
