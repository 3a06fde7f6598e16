//! A full disk (#19, point 3): a change that cannot be made whole fails,
//! names the full disk, and leaves the running release serving; `paas
//! server prune` frees what no release needs.

use crate::harness::{poll, text, Poller, TestServer};

#[test]
fn a_full_disk_fails_a_change_clearly_and_the_old_release_keeps_serving() {
    let server = TestServer::start_on_small_disk(256);
    let repo = server.repo("examples/hello", "packed");
    repo.push_ok();
    assert_eq!(
        server.get("packed", "/"),
        (200, "Hello from web.1\n".into())
    );
    // The releases by version (their age changes as the test goes).
    let versions = || -> Vec<String> {
        let listed = server.ok(&["releases", "-a", "packed"]);
        listed
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(String::from)
            .collect()
    };
    let releases = versions();
    let filler = server.root.path().join("filler");

    // The disk may fill at any of the change's writes (the config, the
    // release, the routes file…): from no space at all upwards, each
    // `config:set` either fails whole or succeeds whole.
    let mut refused = 0;
    let mut done = false;
    for leave_kib in (0..=96).step_by(4) {
        server.fill_disk(&filler, leave_kib * 1024);
        let poller = Poller::start(server.http_port, "packed.localhost");
        let greeting = format!("Hi{leave_kib}");
        let set = server.cmd(&[
            "config:set",
            &format!("GREETING={greeting}"),
            "-a",
            "packed",
        ]);
        let (served, failures, bodies) = poller.stop();
        std::fs::remove_file(&filler).unwrap();
        if set.status.success() {
            // Whole: no request failed while the release changed.
            let hello = "Hello from web.1\n".to_string();
            let hi = format!("{greeting} from web.1\n");
            assert!(
                failures.is_empty() && bodies.iter().all(|b| *b == hello || *b == hi),
                "with {leave_kib} KiB free, requests failed while config:set succeeded \
                 (failures {failures:?}, bodies {bodies:?}):\n{}",
                text(&set)
            );
            assert_eq!(
                server.get("packed", "/"),
                (200, format!("{greeting} from web.1\n")),
                "config:set succeeded with {leave_kib} KiB free:\n{}",
                text(&set)
            );
            done = true;
            break;
        }
        refused += 1;
        let said = text(&set);
        assert!(
            said.contains("the disk is full") && said.contains("paas server prune"),
            "with {leave_kib} KiB free, config:set failed without naming the full disk:\n{said}"
        );
        assert!(
            served > 0 && failures.is_empty() && bodies == ["Hello from web.1\n"],
            "with {leave_kib} KiB free, the app did not keep serving the old release \
             ({served} served, failures {failures:?}, bodies {bodies:?}):\n{said}"
        );
        assert_eq!(
            versions(),
            releases,
            "with {leave_kib} KiB free, a release was recorded for a change that failed:\n{said}"
        );
        assert_eq!(
            server.get("packed", "/"),
            (200, "Hello from web.1\n".into())
        );
    }
    assert!(
        refused > 0,
        "config:set succeeded on a disk with no space at all"
    );
    assert!(done, "config:set never succeeded, even with 96 KiB free");

    // A push whose objects fit but whose build does not: paas names the
    // full disk (git itself says so when the objects do not fit).
    let mut noise = vec![0u8; 150 * 1024];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for byte in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *byte = x as u8;
    }
    std::fs::write(repo.dir.path().join("noise.bin"), &noise).unwrap();
    repo.commit("150 KiB that do not compress");
    server.fill_disk(&filler, 250 * 1024);
    let pushed = repo.push();
    std::fs::remove_file(&filler).unwrap();
    let said = text(&pushed);
    assert!(
        !pushed.status.success(),
        "a push onto a full disk succeeded:\n{said}"
    );
    assert!(
        said.contains("the disk is full") && said.contains("paas server prune"),
        "a push that filled the disk did not name it:\n{said}"
    );
    assert_eq!(server.get("packed", "/").0, 200);
    // With the space back, the same commit deploys.
    repo.push_ok();

    // With a minimum set, a push onto a disk short of it is refused before
    // git writes anything.
    server.install(&["--min-free-disk", "16"]);
    repo.write("NOTES", "another change\n");
    repo.commit("another change");
    let objects = || walk_size(&server.root.path().join("apps/packed/repo.git/objects"));
    let before = objects();
    server.fill_disk(&filler, 8 << 20);
    let status = text(&server.local(&["server", "status"]));
    assert!(
        status.contains("broken  disk: ") && status.contains("pushes are refused below 16.0 MB"),
        "{status}"
    );
    assert!(
        status.contains("disk use by app:") && status.lines().any(|l| l.starts_with("packed ")),
        "{status}"
    );
    let pushed = repo.push();
    std::fs::remove_file(&filler).unwrap();
    let said = text(&pushed);
    assert!(!pushed.status.success(), "{said}");
    assert!(
        said.contains("the disk is too full for a push")
            && said.contains("a push needs 16.0 MB")
            && said.contains("`paas server prune` would free "),
        "{said}"
    );
    assert_eq!(objects(), before, "git wrote objects before the refusal");
    repo.push_ok();
}

/// Bytes of the files under `dir`.
fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk_size(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn server_prune_frees_what_no_release_needs_and_every_release_still_starts() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "tidy");
    repo.push_ok();
    repo.write("NOTES", "the second slug\n");
    repo.commit("a second slug");
    repo.push_ok();
    let slugs = server.root.path().join("apps/tidy/slugs");
    let unpacked = || -> usize {
        std::fs::read_dir(&slugs)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .count()
    };
    assert_eq!(
        unpacked(),
        2,
        "both releases' slugs are unpacked after two deploys"
    );
    // The first release's dyno leaves once the second's uptime window ends.
    let _ = poll(std::time::Duration::from_secs(60), || {
        match server.containers("tidy").len() > 1 {
            true => Err(()),
            false => Ok(()),
        }
    });
    assert_eq!(
        server.containers("tidy").len(),
        1,
        "{:?}",
        server.containers("tidy")
    );

    // An image of an older paas stack that nothing uses.
    let empty = tempfile::Builder::new().suffix(".tar").tempfile().unwrap();
    let mut layer = tar::Builder::new(empty.reopen().unwrap());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    layer.append_data(&mut header, "old", &b"old"[..]).unwrap();
    layer.finish().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(empty.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let orphan = "localhost/paas-stack-run:bookworm-00000000";
    server.podman(&["import", &empty.path().to_string_lossy(), orphan]);
    let images = || server.podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images().contains(orphan), "{}", images());
    // What an app and an add-on destroyed while podman could not remove
    // them leave: the app's network, the add-on's home network and volume.
    let id = server.install_id();
    let label = format!("--label=paas.install={id}");
    let ghosts = [
        format!("paas-{id}-app-ghost"),
        format!("paas-{id}-addon-postgres-ghost-1"),
    ];
    for network in &ghosts {
        server.podman(&["network", "create", &label, network]);
    }
    let ghost_volume = format!("paas-{id}-addon-postgres-ghost-1-data");
    server.podman(&["volume", "create", &label, &ghost_volume]);
    let networks = || server.podman(&["network", "ls", "--format", "{{.Name}}"]);
    let volumes = || server.podman(&["volume", "ls", "--format", "{{.Name}}"]);

    let pruned = server.local(&["server", "prune"]);
    let said = text(&pruned);
    assert!(pruned.status.success(), "{said}");
    assert!(
        said.contains(orphan),
        "prune did not say it removed the image:\n{said}"
    );
    assert!(
        !images().contains(orphan),
        "the orphaned image is still there"
    );
    for gone in ghosts.iter().chain([&ghost_volume]) {
        assert!(
            said.contains(gone.as_str()),
            "prune did not say {gone} went:\n{said}"
        );
    }
    assert!(!networks().contains("-ghost"), "{}", networks());
    assert!(!volumes().contains("-ghost"), "{}", volumes());
    assert!(
        networks().contains(&format!("paas-{id}-app-tidy")),
        "the live app's network went:\n{}",
        networks()
    );
    assert!(
        images().contains(&run_image(&server)),
        "the stack image went:\n{}",
        images()
    );
    assert_eq!(
        unpacked(),
        1,
        "the unpacked slug no dyno runs stays:\n{said}"
    );

    // Both releases still start: the current one by a restart, the older
    // one by a rollback that unpacks its slug again.
    server.ok(&["ps:restart", "-a", "tidy"]);
    assert_eq!(server.get("tidy", "/").0, 200);
    server.ok(&["releases:rollback", "v1", "-a", "tidy"]);
    assert_eq!(server.get("tidy", "/"), (200, "Hello from web.1\n".into()));
    assert_eq!(unpacked(), 2);
}

/// The run image the install's settings name.
fn run_image(server: &TestServer) -> String {
    let settings = std::fs::read_to_string(server.root.path().join("paas.toml")).unwrap();
    let line = settings
        .lines()
        .find(|l| l.starts_with("run_image"))
        .expect("paas.toml names a run image");
    line.split('"').nth(1).unwrap().to_string()
}
