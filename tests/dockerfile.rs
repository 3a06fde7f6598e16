//! Apps that run an image of their own (#22 point 1): a tree with a
//! Dockerfile is built by rootless `podman build` (its layers cached), the
//! release records the image, rollbacks and `server prune` keep what a
//! release needs; a prebuilt image deploys as it is. The images are made
//! `FROM scratch` with the host's static busybox (Debian's
//! `busybox-static`): the tests reach no registry.

use std::path::Path;
use std::time::Duration;

use crate::harness::{Poller, Repo, TestServer};

/// The host's static busybox, which the test images are made of.
fn busybox() -> &'static Path {
    let path = Path::new("/bin/busybox");
    let file = std::process::Command::new("file")
        .arg("-L")
        .arg(path)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        file.contains("statically linked"),
        "the tests need a static /bin/busybox (`apt-get install busybox-static`); `file` says: {file}"
    );
    path
}

/// The image names of this install's apps in podman's store.
fn app_images(server: &TestServer) -> Vec<String> {
    let prefix = format!("localhost/paas-{}/", server.install_id());
    server
        .podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .split_whitespace()
        .filter(|name| name.starts_with(&prefix))
        .map(String::from)
        .collect()
}

/// The name of the image `app`'s release `version` was made for, if the
/// store has it (`localhost/paas-<install>/<app>:v<N>-<random>`).
fn image_of(server: &TestServer, app: &str, version: u32) -> Option<String> {
    let start = format!("localhost/paas-{}/{app}:v{version}-", server.install_id());
    app_images(server)
        .into_iter()
        .find(|name| name.starts_with(&start))
}

/// A repository of the Dockerfile fixture for `app`, with the host's
/// busybox in it (not committed).
fn busybox_repo(server: &TestServer, app: &str) -> Repo {
    let repo = server.repo("tests/apps/dockerfile", app);
    std::fs::copy(busybox(), repo.dir.path().join("busybox")).unwrap();
    repo
}

fn write_page(repo: &Repo, text: &str) {
    repo.write("www/index.html", &format!("{text}\n"));
    repo.commit(text);
}

#[test]
fn dockerfile_app_builds_with_cached_layers_rolls_back_and_keeps_what_releases_need() {
    let server = TestServer::start();
    let repo = busybox_repo(&server, "boxed");
    repo.commit("busybox");
    let output = repo.push_ok();
    assert!(output.contains("Building with the Dockerfile"), "{output}");
    assert!(
        output.contains("COPY www /www"),
        "podman's output reaches the push:\n{output}"
    );
    assert!(
        output.contains("Default types for the image -> web"),
        "the image's CMD is web, the Procfile's types are kept:\n{output}"
    );
    // $PORT is set in the image's dynos as in a slug's.
    assert!(
        output.contains("release phase of the image, PORT=5000"),
        "{output}"
    );
    assert!(output.contains("Released v1"), "{output}");
    assert_eq!(server.get("boxed", "/"), (200, "one\n".to_string()));
    // podman read .dockerignore.
    assert_eq!(server.get("boxed", "/draft.html").0, 404);
    let info = server.ok(&["releases:info", "-a", "boxed"]);
    let v1_image = image_of(&server, "boxed", 1).expect("v1's image is named");
    assert!(
        info.contains("Image:       sha256:") && info.contains(&v1_image),
        "the release records the image by its id:\n{info}"
    );
    assert!(
        info.contains("Process:     web: httpd -f -p $PORT -h /www"),
        "{info}"
    );

    // Only the page changed: the steps before its COPY come from the cache,
    // and traffic moves to the new image's dyno with no request failing.
    write_page(&repo, "two");
    let poller = Poller::start(server.http_port, "boxed.localhost");
    let output = repo.push_ok();
    let (served, failures, bodies) = poller.stop();
    assert!(
        failures.is_empty(),
        "{} of {served} requests failed during the redeploy; the first: {}",
        failures.len(),
        failures[0]
    );
    assert_eq!(bodies, ["one\n", "two\n"], "served {served}");
    let cached = output.matches("Using cache").count();
    assert!(
        cached >= 2,
        "busybox and its links come from the cache:\n{output}"
    );
    assert!(output.contains("Released v2"), "{output}");
    assert_eq!(server.get("boxed", "/"), (200, "two\n".to_string()));
    let v2_image = image_of(&server, "boxed", 2).expect("v2's image is named");
    // Into the running dyno of an image, which has no bash.
    let inside = server.ok(&["ps:exec", "-a", "boxed", "cat", "/www/index.html"]);
    assert!(inside.contains("two"), "{inside}");

    // Another app's Dockerfile cannot reach this one's image: not by its
    // name, an id prefix, nor its whole id (they share podman's store).
    let peek = busybox_repo(&server, "peek");
    let boxed_id = server.podman(&["image", "inspect", "--format", "{{.Id}}", &v1_image]);
    let boxed_id = boxed_id.trim();
    for (dockerfile, why) in [
        (format!("FROM {v1_image}\n"), "not an image this app may build from"),
        (format!("FROM {}\n", &boxed_id[..4]), "an image id prefix"),
        (
            format!("FROM scratch\nCOPY --from={boxed_id} /www /www\n"),
            "not an image this app may build from",
        ),
        (
            format!("FROM scratch\nCOPY busybox /bin/busybox\nRUN --mount=type=bind,from={},target=/x [\"/bin/busybox\", \"true\"]\n", &boxed_id[..12]),
            "an image id prefix",
        ),
    ] {
        peek.write("Dockerfile", &format!("{dockerfile}CMD cat /www/index.html\n"));
        peek.commit("peek");
        let refused = peek.push_refused();
        assert!(refused.contains(why), "{dockerfile}: {refused}");
        assert!(!refused.contains("STEP 1/"), "the build never starts: {refused}");
    }
    // Nor through a base image's ONBUILD trigger, which runs in the build
    // of whatever is made FROM it (an image in Docker's format keeps them).
    let base = tempfile::Builder::new()
        .prefix("paas-onbuild-")
        .tempdir()
        .unwrap();
    std::fs::write(
        base.path().join("Dockerfile"),
        format!("FROM scratch\nONBUILD COPY --from={boxed_id} /www /www\n"),
    )
    .unwrap();
    let base_dir = base.path().to_str().unwrap();
    let chmod = std::process::Command::new("chmod")
        .args(["-R", "a+rX", base_dir])
        .status();
    assert!(chmod.unwrap().success());
    let onbuild = format!("localhost/onbuild-{}:1", server.install_id());
    server.podman(&["build", "--format", "docker", "--tag", &onbuild, base_dir]);
    peek.write(
        "Dockerfile",
        &format!("FROM {onbuild}\nCMD cat /www/index.html\n"),
    );
    peek.commit("peek through a trigger");
    let refused = peek.push_refused();
    assert!(
        refused.contains(&format!(
            "(an ONBUILD trigger of {onbuild})` names `{boxed_id}`"
        )) && refused.contains("not an image this app may build from"),
        "{refused}"
    );
    assert!(
        image_of(&server, "peek", 1).is_none(),
        "{:?}",
        app_images(&server)
    );
    // Its own image, from scratch, it builds.
    peek.write(
        "Dockerfile",
        &std::fs::read_to_string("tests/apps/dockerfile/Dockerfile").unwrap(),
    );
    // A page of its own: with boxed's, the build's cache would give it
    // boxed's image (the same steps on the same files), and the disk use
    // counted below would be shared.
    peek.write("www/index.html", "peek\n");
    peek.commit("its own");
    let output = peek.push_ok();
    assert!(output.contains("Released v1"), "{output}");
    assert_eq!(server.get("peek", "/"), (200, "peek\n".to_string()));

    // Config vars are the image's environment; `run` runs by its shell.
    server.ok(&["config:set", "-a", "boxed", "GREETING=it's me"]);
    let output = server.ok(&[
        "run",
        "-a",
        "boxed",
        "echo \"[$GREETING on $DYNO]\"; cat /www/index.html",
    ]);
    assert!(output.contains("[it's me on run.1]"), "{output}");
    assert!(output.contains("two"), "{output}");

    let output = server.ok(&["releases:rollback", "-a", "boxed", "v1"]);
    assert!(output.contains("done, v4"), "{output}");
    assert_eq!(server.get("boxed", "/"), (200, "one\n".to_string()));

    // A push whose release phase fails records a failed release: its
    // image is the one no release needs.
    repo.write("Procfile", "release: exit 3\n");
    write_page(&repo, "three");
    let output = repo.push_refused();
    assert!(
        output.contains("release command failed (exit status 3)"),
        "{output}"
    );
    let v5_image = image_of(&server, "boxed", 5).expect("v5's image is named");
    assert_eq!(server.get("boxed", "/"), (200, "one\n".to_string()));

    let output = server.local(&["server", "prune"]);
    let said = crate::harness::text(&output);
    assert!(output.status.success(), "{said}");
    let left = app_images(&server);
    assert!(!left.contains(&v5_image), "{said}\n{left:?}");
    // `server status` counts the app's images (not their names) in its
    // disk use.
    let prefix = format!("localhost/paas-{}/boxed:", server.install_id());
    let mut ids: Vec<String> = server
        .podman(&["images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"])
        .lines()
        .filter(|l| l.contains(&prefix))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    ids.sort();
    ids.dedup();
    let status = crate::harness::text(&server.local(&["server", "status"]));
    let row = status
        .lines()
        .find(|l| l.starts_with("boxed "))
        .unwrap_or_default();
    assert!(
        row.contains(&format!(" {}, ", ids.len())),
        "the images column of `boxed` does not count {}:\n{status}",
        ids.len()
    );
    assert!(
        left.contains(&v1_image) && left.contains(&v2_image),
        "the images of releases one may roll back to stay:\n{said}\n{left:?}"
    );

    // After the prune, a rollback still finds its image.
    server.ok(&["releases:rollback", "-a", "boxed", "v2"]);
    assert_eq!(
        server.get_when_200("boxed", "/", Duration::from_secs(10)),
        (200, "two".to_string())
    );
    // And the build cache outlived it.
    repo.write("Procfile", "");
    write_page(&repo, "four");
    let output = repo.push_ok();
    assert!(output.matches("Using cache").count() >= 2, "{output}");
    assert_eq!(server.get("boxed", "/"), (200, "four\n".to_string()));
}

#[test]
fn a_prebuilt_image_deploys_for_admins_and_a_dockerfile_build_stops_at_its_limit() {
    let server = TestServer::start();
    // An image made by hand in the server's store, as an admin would load one.
    let context = tempfile::Builder::new()
        .prefix("paas-image-")
        .tempdir()
        .unwrap();
    std::fs::copy(busybox(), context.path().join("busybox")).unwrap();
    std::fs::create_dir(context.path().join("www")).unwrap();
    std::fs::write(context.path().join("www/index.html"), "prebuilt\n").unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY www /www\n\
         CMD [\"/bin/busybox\", \"httpd\", \"-f\", \"-p\", \"5000\", \"-h\", \"/www\"]\n",
    )
    .unwrap();
    let reference = format!("localhost/prebuilt-{}:1", server.install_id());
    let dir = context.path().to_str().unwrap();
    std::process::Command::new("chmod")
        .args(["-R", "a+rX", dir])
        .status()
        .unwrap();
    server.podman(&["build", "--tag", &reference, dir]);

    server.ok(&["apps:create", "prebuilt"]);
    let bob = server.add_user("bob");
    server.ok(&["access:add", "bob", "-a", "prebuilt"]);
    let output = server.cmd_with_key(
        &bob,
        &["releases:create", "--image", &reference, "-a", "prebuilt"],
    );
    assert!(!output.status.success());
    assert!(
        crate::harness::text(&output).contains("only an admin may deploy an image as it is"),
        "{}",
        crate::harness::text(&output)
    );
    server.refused(
        &[
            "releases:create",
            "--image",
            "localhost/paas-stack-run:x",
            "-a",
            "prebuilt",
        ],
        "is one of paas's own images",
    );

    let output = server.ok(&["releases:create", "--image", &reference, "-a", "prebuilt"]);
    assert!(output.contains("Released v1"), "{output}");
    // The user's name can go: the release's stays.
    server.podman(&["rmi", &reference]);
    assert_eq!(server.get("prebuilt", "/"), (200, "prebuilt\n".to_string()));
    let ps = server.ok(&["ps", "-a", "prebuilt"]);
    assert!(
        ps.contains(r#"=== web (1): ["/bin/busybox","httpd","-f","-p","5000","-h","/www"]"#),
        "{ps}"
    );
    server.ok(&["ps:restart", "-a", "prebuilt"]);
    assert_eq!(
        server.get_when_200("prebuilt", "/", Duration::from_secs(10)),
        (200, "prebuilt".to_string())
    );

    // A Dockerfile build that runs past the install's limit is stopped,
    // the process of its step too; the running release serves on.
    server.install(&["--build-timeout", "20s"]);
    let repo = busybox_repo(&server, "prebuilt");
    repo.write(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sleep\", \"613\"]\n",
    );
    repo.commit("a build that never ends");
    let started = std::time::Instant::now();
    let refused = repo.push_refused();
    assert!(
        refused.contains("the build ran past this server's limit of 20s and was stopped"),
        "{refused}"
    );
    assert!(started.elapsed() < Duration::from_secs(90));
    let processes = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    let processes = String::from_utf8_lossy(&processes.stdout);
    assert!(!processes.contains("sleep 613"), "{processes}");
    assert_eq!(server.get("prebuilt", "/"), (200, "prebuilt\n".to_string()));
}

#[test]
fn a_renamed_apps_images_follow_it_and_a_new_app_of_the_old_name_gets_none() {
    let server = TestServer::start();
    let repo = busybox_repo(&server, "boxed");
    repo.commit("busybox");
    repo.push_ok();
    let image = image_of(&server, "boxed", 1).expect("v1's image is named");
    let id = server.podman(&["image", "inspect", "--format", "{{.Id}}", &image]);
    let id = id.trim().to_string();

    server.ok(&["apps:rename", "crated", "-a", "boxed"]);
    let renamed = image_of(&server, "crated", 1).expect("the image has the new name");
    assert_eq!(
        renamed.rsplit_once(':').unwrap().1,
        image.rsplit_once(':').unwrap().1,
        "the tag stays"
    );
    assert!(
        image_of(&server, "boxed", 1).is_none(),
        "{:?}",
        app_images(&server)
    );

    // A new app of the old name may not build from it (it would be its
    // own by the old name), and its pushes' prunes leave it.
    let again = busybox_repo(&server, "boxed");
    again.write(
        "Dockerfile",
        &format!("FROM {id}\nCMD cat /www/index.html\n"),
    );
    again.commit("from the renamed app's image");
    let refused = again.push_refused();
    assert!(
        refused.contains("not an image this app may build from"),
        "{refused}"
    );
    again.write(
        "Dockerfile",
        &std::fs::read_to_string("tests/apps/dockerfile/Dockerfile").unwrap(),
    );
    again.write("www/index.html", "again\n");
    again.commit("its own");
    again.push_ok();
    assert_eq!(server.get("boxed", "/"), (200, "again\n".to_string()));
    let output = server.local(&["server", "prune"]);
    assert!(output.status.success(), "{}", crate::harness::text(&output));
    assert!(
        image_of(&server, "crated", 1).is_some(),
        "{:?}",
        app_images(&server)
    );
    server.ok(&["ps:restart", "-a", "crated"]);
    assert_eq!(
        server.get_when_200("crated", "/", Duration::from_secs(10)),
        (200, "one".to_string())
    );
}
