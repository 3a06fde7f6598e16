//! End-to-end: Heroku's buildpack API. Choosing buildpacks (`buildpacks:*`,
//! `BUILDPACK_URL`, `.buildpacks`), third-party buildpacks fetched by git and
//! as tarballs, multi-buildpack builds, `bin/release` config vars and
//! add-ons, `.slugignore`, the slug size limit, and the release phase.

use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{text, TestServer};

/// A test host: a network namespace this test makes, joined to this one by
/// a veth pair on a private /30 (this side `.1`, the test host `.2`), with
/// no route anywhere else. A build container reaches it as rootless podman
/// reaches anything: slirp4netns connects from this namespace, and the route
/// to the /30 is the pair. Dropping it stops every process in it and deletes
/// the namespace, which removes the pair.
struct TestHost {
    netns: String,
    /// The host end of the pair, in this namespace.
    link: String,
    /// The test host's address, `.2` of the /30.
    address: Ipv4Addr,
    /// Servers started inside, stopped before the namespace goes.
    servers: Vec<Served>,
}

/// A server's process; dropping it kills it.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ip(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("`ip` runs")
}

fn ip_ok(args: &[&str]) {
    let output = ip(args);
    assert!(output.status.success(), "ip {args:?}: {}", text(&output));
}

impl TestHost {
    /// A /30 in 10.251.0.0/16 (clear of podman's 10.88/16 and 10.89/16 and
    /// slirp4netns's 10.0.2/24), numbered from this process's id and a
    /// counter. The namespace's and interfaces' names carry the number, so
    /// creating them claims it: a number another test or run holds is
    /// skipped.
    fn new() -> TestHost {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        for _ in 0..64 {
            let number = (std::process::id() + NEXT.fetch_add(1, Ordering::SeqCst)) % (1 << 14);
            let netns = format!("paas-bp-{number}");
            let made = ip(&["netns", "add", &netns]);
            if !made.status.success() {
                assert!(
                    text(&made).contains("exists"),
                    "ip netns add: {}",
                    text(&made)
                );
                continue;
            }
            let link = format!("pbp{number}");
            let peer = format!("{link}p"); // at most 15 bytes: `pbp16383p`
            let paired = ip(&[
                "link", "add", &link, "type", "veth", "peer", "name", &peer, "netns", &netns,
            ]);
            if !paired.status.success() {
                ip_ok(&["netns", "delete", &netns]);
                // A pair left behind by a namespace something still holds.
                assert!(
                    text(&paired).contains("exists"),
                    "ip link add: {}",
                    text(&paired)
                );
                continue;
            }
            let [a, b] = [(number >> 6) as u8, ((number & 63) << 2) as u8];
            let host = TestHost {
                netns,
                link,
                address: Ipv4Addr::new(10, 251, a, b + 2),
                servers: Vec::new(),
            };
            let ours = format!("{}/30", Ipv4Addr::new(10, 251, a, b + 1));
            let theirs = format!("{}/30", host.address);
            ip_ok(&["address", "add", &ours, "dev", &host.link]);
            ip_ok(&["link", "set", &host.link, "up"]);
            ip_ok(&["-n", &host.netns, "link", "set", "lo", "up"]);
            ip_ok(&["-n", &host.netns, "address", "add", &theirs, "dev", &peer]);
            ip_ok(&["-n", &host.netns, "link", "set", &peer, "up"]);
            // Traffic to it goes over the pair and nowhere else.
            let route = text(&ip(&["-4", "route", "get", &host.address.to_string()]));
            assert!(
                route.contains(&format!(" dev {} ", host.link)),
                "{} is not routed over {}: {route}",
                host.address,
                host.link
            );
            return host;
        }
        panic!("no free /30 for a test host in 10.251.0.0/16 after 64 tries (`ip netns list`)");
    }

    /// Starts `program` inside the namespace, listening on `port` of the
    /// test host's address; returns once it accepts connections there.
    /// `ip netns exec` execs the program, so the child is the server.
    fn serve(&mut self, program: &Path, args: &[String], port: u16) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", program.display()));
        self.servers.push(Served(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&(self.address, port).into(), Duration::from_secs(1))
            .is_err()
        {
            let server = &mut self.servers.last_mut().unwrap().0;
            if let Ok(Some(status)) = server.try_wait() {
                panic!("{} ended before it listened: {status}", program.display());
            }
            assert!(
                Instant::now() < deadline,
                "{} never listened on {}:{port}",
                program.display(),
                self.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.servers.clear();
        // Anything else inside: a git-daemon child still serving a fetch.
        let pids = |netns: &str| -> Vec<i32> {
            text(&ip(&["netns", "pids", netns]))
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = pids(&self.netns);
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in left {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let deleted = ip(&["netns", "delete", &self.netns]);
        if !deleted.status.success() {
            eprintln!("ip netns delete {}: {}", self.netns, text(&deleted));
        }
        // The kernel removes the pair as the namespace goes.
        while ip(&["link", "show", &self.link]).status.success() {
            if Instant::now() > deadline {
                eprintln!("{} outlived its namespace {}", self.link, self.netns);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/usr/bin/env bash\nset -e\n{text}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", text(&output));
}

/// Runs git in `dir` as a buildpack's author; its output.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", text(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Two third-party buildpacks, as a user would publish them: `greeter` in a
/// git repository (served by `git daemon`; its URL follows the `main`
/// branch, and tag `v1` is its first commit; a copy of it as of now is
/// served over HTTP too, by a dumb server), `second` as a `.tgz` (served
/// over HTTP), both from a test host. Returns their URLs (greeter, greeter
/// over HTTP at v1, second) and the test host, its git daemon first in
/// `servers`.
fn publish_buildpacks(dir: &Path) -> (String, String, String, TestHost) {
    let greeter = dir.join("greeter");
    write_script(
        &greeter.join("bin/detect"),
        r#"[ -f "$1/server.py" ] || exit 1; echo Greeter"#,
    );
    // `export` is what the next buildpack's compile sources.
    write_script(
        &greeter.join("bin/compile"),
        r#"echo "-----> Greeter compiling"
echo from-greeter > "$1/greeter.txt"
echo "STACK=$STACK SOURCE_VERSION=$SOURCE_VERSION HOME=$HOME REQUEST_ID=$REQUEST_ID uid=$(id -u)" > "$1/build-env.txt"
echo "       Greeter cache: $(cat "$2/greeter-cache" 2>/dev/null || echo empty)"
echo "kept from $SOURCE_VERSION" > "$2/greeter-cache"
echo 'export GREETER_SAID=exported-by-greeter' > "$(dirname "$0")/../export""#,
    );
    write_script(
        &greeter.join("bin/release"),
        "cat <<'YAML'\n---\naddons:\n  - heroku-postgresql\nconfig_vars:\n  GREETING: Salut\ndefault_process_types:\n  web: python3 never-used.py\nYAML",
    );
    git(dir, &["init", "-q", "-b", "main", "greeter"]);
    git(&greeter, &["add", "-A"]);
    git(&greeter, &["commit", "-q", "-m", "greeter"]);
    git(&greeter, &["tag", "v1"]);

    let second = dir.join("second-src/second-buildpack");
    write_script(&second.join("bin/detect"), "echo Second");
    write_script(
        &second.join("bin/compile"),
        r#"echo "-----> Second compiling"
echo "${GREETER_SAID:-nothing}" > "$1/second.txt""#,
    );
    write_script(
        &second.join("bin/release"),
        "printf -- '---\\ndefault_process_types:\\n  web: python3 server.py\\n'",
    );
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    git(
        dir,
        &["clone", "-q", "--bare", "greeter", "www/greeter.git"],
    );
    git(&www.join("greeter.git"), &["update-server-info"]);
    run(Command::new("tar")
        .arg("-czf")
        .arg(www.join("second.tgz"))
        .arg("-C")
        .arg(dir.join("second-src"))
        .arg("second-buildpack"));

    // Served from a test host of this test's own (see `TestHost`), whose
    // ports nothing else uses.
    let mut host = TestHost::new();
    let (git_port, http_port) = (9418, 8000);
    // git-daemon itself: `git daemon` would run it as a child, which
    // killing `git` leaves behind.
    let exec_path = git(dir, &["--exec-path"]);
    host.serve(
        &Path::new(&exec_path).join("git-daemon"),
        &[
            "--export-all".into(),
            format!("--listen={}", host.address),
            format!("--port={git_port}"),
            format!("--base-path={}", dir.display()),
            dir.display().to_string(),
        ],
        git_port,
    );
    host.serve(
        Path::new("python3"),
        &[
            "-m".into(),
            "http.server".into(),
            http_port.to_string(),
            "--bind".into(),
            host.address.to_string(),
            "--directory".into(),
            www.display().to_string(),
        ],
        http_port,
    );
    let address = host.address;
    (
        format!("git://{address}:{git_port}/greeter#main"),
        format!("http://{address}:{http_port}/greeter.git#v1"),
        format!("http://{address}:{http_port}/second.tgz"),
        host,
    )
}

#[test]
fn third_party_buildpacks_chosen_by_command_config_var_and_file_build_in_order() {
    let server = TestServer::start();
    let published = tempfile::tempdir().unwrap();
    let (greeter, greeter_http, second, mut host) = publish_buildpacks(published.path());
    let greeter_dir = published.path().join("greeter");
    let first = git(&greeter_dir, &["rev-parse", "--short=7", "HEAD"]);
    server.ok(&["apps:create", "multi"]);

    // Choosing: bad input is refused with the choices, nothing is stored.
    server.refused(
        &["buildpacks:set", "-a", "multi", "cobol"],
        "`cobol` is not a buildpack",
    );
    server.refused(
        &["buildpacks:set", "-a", "multi", "https://x/$(reboot)"],
        "is not a buildpack",
    );
    assert!(server
        .ok(&["buildpacks", "-a", "multi"])
        .contains("multi has no Buildpack URL set"));
    server.ok(&["buildpacks:set", "-a", "multi", "heroku/python"]);
    server.ok(&["buildpacks:add", "-a", "multi", "procfile"]);
    server.refused(
        &["buildpacks:add", "-a", "multi", "procfile"],
        "already set",
    );
    let added = server.ok(&["buildpacks:add", "-a", "multi", "--index", "1", "go"]);
    assert!(
        added.contains("1. go\n  2. python\n  3. procfile"),
        "{added}"
    );
    let removed = server.ok(&["buildpacks:remove", "-a", "multi", "--index", "2"]);
    assert!(removed.contains("1. go\n  2. procfile"), "{removed}");
    server.ok(&["buildpacks:set", "-a", "multi", "--index", "1", &greeter]);
    server.ok(&["buildpacks:remove", "-a", "multi", "procfile"]);
    let added = server.ok(&["buildpacks:add", "-a", "multi", &second]);
    assert!(
        added.contains(&format!("1. {greeter}")) && added.contains(&format!("2. {second}")),
        "{added}"
    );
    let listed = server.ok(&["buildpacks", "-a", "multi"]);
    assert!(listed.contains("multi Buildpack URLs"), "{listed}");

    // A multi-buildpack build: each compiles in order, the second sees what
    // the first exported, process types come from the last bin/release, and
    // the first deploy takes the config vars bin/release asks for.
    let repo = server.repo("examples/hello", "multi");
    repo.git(&["rm", "-q", "Procfile"]);
    repo.commit("no Procfile: the last buildpack names the process types");
    let output = repo.push_ok();
    for expected in [
        &format!("Buildpacks set with `paas buildpacks:set`: {greeter}, {second}"),
        &format!("Fetching buildpack {greeter}"),
        &format!("Fetching buildpack {second}"),
        "Greeter app detected",
        "Greeter compiling",
        "Second app detected",
        "Second compiling",
        "Setting GREETING from the buildpack (first deploy)",
        "The buildpack asks for a postgres add-on: `paas addons:create postgres -a multi`",
    ] {
        assert!(output.contains(expected), "{expected}:\n{output}");
    }
    assert!(
        output.find("Greeter compiling") < output.find("Second compiling"),
        "{output}"
    );
    assert_eq!(server.get("multi", "/"), (200, "Salut from web.1\n".into()));
    let files = server.ok(&["run", "-a", "multi", "cat greeter.txt second.txt"]);
    assert!(
        files.contains("from-greeter") && files.contains("exported-by-greeter"),
        "{files}"
    );
    // Builds see Heroku's environment and run unprivileged; CACHE_DIR
    // starts empty and is kept for the next build.
    let pushed = repo.head();
    let env = server.ok(&["run", "-a", "multi", "cat build-env.txt"]);
    for expected in [
        "STACK=paas-bookworm ",
        &format!(" SOURCE_VERSION={pushed} "),
        " HOME=/app ",
        " REQUEST_ID=paas-",
    ] {
        assert!(env.contains(expected), "{expected}:\n{env}");
    }
    assert!(!env.contains("uid=0"), "{env}");
    assert!(output.contains("Greeter cache: empty"), "{output}");

    // A rebuild reuses the fetched buildpacks while they are unchanged.
    repo.write(
        "server.py",
        &std::fs::read_to_string("examples/hello/server.py")
            .unwrap()
            .replace("from {", "again from {"),
    );
    repo.commit("code change");
    let output = repo.push_ok();
    assert!(
        output.contains(&format!(
            "Using buildpack {greeter} at {first} (fetched earlier, unchanged)"
        )),
        "{output}"
    );
    assert!(
        output.contains(&format!("Using buildpack {second} (fetched earlier")),
        "{output}"
    );
    assert!(!output.contains("Fetching buildpack"), "{output}");
    assert!(
        output.contains(&format!("Greeter cache: kept from {pushed}")),
        "{output}"
    );
    assert!(
        !output.contains("Setting GREETING"),
        "only on the first deploy:\n{output}"
    );
    assert_eq!(server.get("multi", "/").1, "Salut again from web.1\n");

    // A git buildpack follows its branch: the next build fetches a new
    // commit, without repo:purge-cache.
    let compile = greeter_dir.join("bin/compile");
    let script = std::fs::read_to_string(&compile).unwrap();
    std::fs::write(
        &compile,
        script.replace("Greeter compiling", "Greeter compiling, second version"),
    )
    .unwrap();
    git(&greeter_dir, &["commit", "-q", "-am", "second version"]);
    let moved = git(&greeter_dir, &["rev-parse", "--short=7", "HEAD"]);
    repo.commit("the buildpack moved on");
    let output = repo.push_ok();
    assert!(
        output.contains(&format!(
            "Fetching buildpack {greeter} at {moved} (was {first})"
        )),
        "{output}"
    );
    assert!(
        output.contains("Greeter compiling, second version"),
        "{output}"
    );

    // repo:purge-cache empties the cache and fetches every buildpack anew.
    assert!(server
        .ok(&["repo:purge-cache", "-a", "multi"])
        .contains("Purged the build cache of multi"));
    repo.commit("after the purge");
    let output = repo.push_ok();
    assert!(
        output.contains(&format!("Fetching buildpack {greeter}")),
        "{output}"
    );
    assert!(output.contains("Greeter cache: empty"), "{output}");

    // A buildpack whose bin/detect refuses the app fails the build, saying
    // which; the running release keeps serving.
    server.ok(&["buildpacks:clear", "-a", "multi"]);
    server.ok(&["buildpacks:set", "-a", "multi", "python"]);
    repo.commit("python cannot build this");
    let refused = repo.push_refused();
    assert!(
        refused.contains("not compatible with the buildpack python"),
        "{refused}"
    );
    assert_eq!(server.get("multi", "/").1, "Salut again from web.1\n");

    // Cleared: BUILDPACK_URL chooses, then a .buildpacks file.
    server.ok(&["buildpacks:clear", "-a", "multi"]);
    server.ok(&[
        "config:set",
        "-a",
        "multi",
        &format!("BUILDPACK_URL={second}"),
    ]);
    repo.commit("by config var");
    let output = repo.push_ok();
    assert!(
        output.contains(&format!(
            "Buildpacks from the BUILDPACK_URL config var: {second}"
        )),
        "{output}"
    );
    assert!(!output.contains("Greeter"), "{output}");
    server.ok(&["config:unset", "-a", "multi", "BUILDPACK_URL"]);
    // Over HTTP from a dumb server (static files), as from a git host.
    repo.write(".buildpacks", &format!("{greeter_http}\n{second}\n"));
    repo.commit("by file, over HTTP");
    let output = repo.push_ok();
    assert!(
        output.contains(&format!("Fetching buildpack {greeter_http} at {first}")),
        "{output}"
    );
    assert!(
        output.contains("Greeter compiling") && !output.contains("second version"),
        "{output}"
    );
    // A tag stays where it is: #v1 builds with the first version.
    let greeter_v1 = greeter.replace("#main", "#v1");
    repo.write(".buildpacks", &format!("# ours\n{greeter_v1}\n{second}\n"));
    repo.commit("by file");
    let output = repo.push_ok();
    assert!(output.contains("Buildpacks from .buildpacks"), "{output}");
    assert!(
        output.contains(&format!("Fetching buildpack {greeter_v1} at {first}")),
        "{output}"
    );
    assert!(
        output.contains("Greeter compiling") && !output.contains("second version"),
        "{output}"
    );
    repo.write(".buildpacks", "ftp://nowhere/bp\n");
    repo.commit("bad file");
    let refused = repo.push_refused();
    assert!(
        refused.contains(".buildpacks: `ftp://nowhere/bp` is not a buildpack"),
        "{refused}"
    );
    assert_eq!(server.get("multi", "/").1, "Salut again from web.1\n");

    // A git buildpack whose repository cannot be reached builds with the
    // copy fetched earlier, saying so.
    drop(host.servers.remove(0));
    repo.write(".buildpacks", &format!("{greeter_v1}\n{second}\n"));
    repo.commit("git daemon gone");
    let output = repo.push_ok();
    let repository = greeter_v1.trim_end_matches("#v1");
    for expected in [
        &format!("Could not reach the buildpack's repository {repository}:"),
        &format!(
            "building with the copy fetched earlier (commit {first}), which may be out of date."
        ),
        "Greeter compiling",
    ] {
        assert!(output.contains(expected), "{expected}:\n{output}");
    }
}

#[test]
fn the_release_phase_runs_before_each_release_and_a_failure_keeps_the_old_one() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "phased");
    server.ok(&["apps:create", "phased"]);
    server.ok(&["config:set", "-a", "phased", "GREETING=Hello"]);
    // The release command sees the new release's config; FAIL_RELEASE (or
    // a Redis add-on) fails it.
    repo.write(
        "Procfile",
        "web: python3 server.py\nrelease: echo \"migrating to $GREETING\"; [ -z \"$FAIL_RELEASE$REDIS_URL\" ]\n",
    );
    repo.commit("release phase");
    let output = repo.push_ok();
    assert!(output.contains("Running release command"), "{output}");
    assert!(output.contains("migrating to Hello"), "{output}");
    assert!(output.contains("Release command succeeded"), "{output}");
    assert_eq!(server.get("phased", "/").1, "Hello from web.1\n");
    let ps = server.ok(&["ps", "-a", "phased"]);
    assert!(!ps.contains("release.1"), "the release dyno is gone:\n{ps}");

    // A config change runs it too; a failing one records a failed release,
    // and the config and dynos stay as they were.
    let set = server.ok(&["config:set", "-a", "phased", "GREETING=Hi"]);
    assert!(set.contains("migrating to Hi"), "{set}");
    let failed = server.cmd(&[
        "config:set",
        "-a",
        "phased",
        "FAIL_RELEASE=1",
        "GREETING=Broken",
    ]);
    let said = text(&failed);
    assert!(!failed.status.success(), "{said}");
    assert!(
        said.contains("v4: the release command failed (exit status 1)"),
        "{said}"
    );
    assert_eq!(server.get("phased", "/").1, "Hi from web.1\n");
    assert_eq!(
        server
            .ok(&["config:get", "-a", "phased", "GREETING"])
            .trim(),
        "Hi"
    );
    let releases = server.ok(&["releases", "-a", "phased"]);
    assert!(releases.contains("Current: v3"), "{releases}");
    assert!(
        releases.contains("(release command failed (exit status 1))"),
        "{releases}"
    );
    server.refused(
        &["releases:rollback", "-a", "phased", "v4"],
        "v4 never ran: release command failed",
    );

    // A push whose release command fails is refused; the old one serves.
    repo.write(
        "Procfile",
        "web: python3 server.py\nrelease: echo 'migration failed' >&2; exit 7\n",
    );
    repo.commit("broken migration");
    let refused = repo.push_refused();
    assert!(refused.contains("migration failed"), "{refused}");
    assert!(
        refused.contains("release command failed (exit status 7)"),
        "{refused}"
    );
    assert_eq!(server.get("phased", "/").1, "Hi from web.1\n");
    // Rolling back skips the failed releases to the one before the current.
    let rolled = server.ok(&["releases:rollback", "-a", "phased"]);
    assert!(rolled.contains("Rolling back phased to v2"), "{rolled}");

    // An add-on whose attach release fails is made but not attached: the
    // hint says how to attach it once the release command is fixed.
    let failed = server.cmd(&["addons:create", "redis", "-a", "phased", "--name", "cache"]);
    let said = text(&failed);
    assert!(!failed.status.success(), "{said}");
    assert!(
        said.contains("release command failed")
            && said.contains("cache was created but is not attached")
            && said.contains("`paas addons:attach cache -a phased`"),
        "{said}"
    );
}

#[test]
fn slugignore_drops_files_and_what_passes_the_servers_limits_is_refused() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "trimmed");
    std::fs::create_dir_all(repo.dir.path().join("docs")).unwrap();
    repo.write("docs/manual.txt", "not needed at run time");
    repo.write("notes.psd", "not needed either");
    repo.write(".slugignore", "docs/\n*.psd\n");
    repo.commit("with .slugignore");
    let output = repo.push_ok();
    assert!(
        output.contains("Removed 2 file(s) and folder(s) named in .slugignore"),
        "{output}"
    );
    let listing = server.ok(&["run", "-a", "trimmed", "ls -a"]);
    assert!(listing.contains("server.py"), "{listing}");
    assert!(
        !listing.contains("docs") && !listing.contains("notes.psd"),
        "{listing}"
    );

    // 3 MiB that does not compress, against a 1 MiB limit.
    server.install(&["--slug-limit-mb", "1"]);
    let mut noise = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open("/dev/urandom").unwrap(), 3 << 20),
        &mut noise,
    )
    .unwrap();
    std::fs::write(repo.dir.path().join("noise.bin"), noise).unwrap();
    repo.commit("too big");
    let refused = repo.push_refused();
    assert!(
        refused.contains("over this server's limit of 1.0 MB"),
        "{refused}"
    );
    assert!(refused.contains(".slugignore"), "{refused}");
    assert_eq!(server.get("trimmed", "/").1, "Hello from web.1\n");

    // A build that runs past the install's limit is stopped, and so is a
    // release command; the running release keeps serving.
    server.install(&["--build-timeout", "20s", "--release-timeout", "5s"]);
    repo.git(&["rm", "-q", "noise.bin"]);
    repo.write(
        "package.json",
        r#"{"name": "slow", "private": true, "scripts": {"build": "echo compiling for ever; sleep 600"}}"#,
    );
    repo.commit("a build that never ends");
    let started = std::time::Instant::now();
    let refused = repo.push_refused();
    assert!(refused.contains("compiling for ever"), "{refused}");
    assert!(
        refused.contains("the build ran past this server's limit of 20s and was stopped"),
        "{refused}"
    );
    assert!(refused.contains("--build-timeout"), "{refused}");
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    assert_eq!(server.get("trimmed", "/").1, "Hello from web.1\n");

    repo.git(&["rm", "-q", "package.json"]);
    repo.write(
        "Procfile",
        "web: python3 server.py\nrelease: echo migrating for ever; sleep 600\n",
    );
    repo.commit("a release command that never ends");
    let refused = repo.push_refused();
    assert!(refused.contains("migrating for ever"), "{refused}");
    assert!(
        refused.contains("the release command ran past this server's limit of 5s and was stopped"),
        "{refused}"
    );
    assert!(refused.contains("--release-timeout"), "{refused}");
    assert_eq!(server.get("trimmed", "/").1, "Hello from web.1\n");
    let releases = server.ok(&["releases", "-a", "trimmed"]);
    assert!(releases.contains("Current: v1"), "{releases}");
    assert!(
        releases.contains("(release command ran past this server's limit of 5s"),
        "{releases}"
    );
    let ps = server.ok(&["ps", "-a", "trimmed"]);
    assert!(!ps.contains("release.1"), "the release dyno is gone:\n{ps}");
}
