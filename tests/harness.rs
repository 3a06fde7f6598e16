//! `TestServer`: a throwaway `--local` install, and the client side of it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct TestServer {
    pub root: tempfile::TempDir,
    client: tempfile::TempDir,
    pub ssh_port: u16,
    pub http_port: u16,
    pub https_port: u16,
    /// The root is a tmpfs of its own (`on_small_disk`), unmounted on drop.
    small_disk: bool,
}

/// A port for a test's server to listen on. Taken below the kernel's
/// ephemeral range (32768 and up), where port 0 binds and podman's published
/// dyno ports land: a port from there could be taken by a concurrent test's
/// dyno between this check and the server's own bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Spread by process id, so two test runs rarely walk the same ports.
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() % 10_000) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let port = 20_000 + NEXT.fetch_add(1, Ordering::SeqCst) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn paas_bin() -> &'static str {
    env!("CARGO_BIN_EXE_paas")
}

fn require_prerequisites() {
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "the end-to-end tests must run as root: they install paas with `paas server install --local` \
         (which creates the `paas` user and a private sshd); run `sudo cargo test`"
    );
    for program in [
        "git",
        "ssh",
        "ssh-keygen",
        "curl",
        "podman",
        "openssl",
        "pebble",
        "pebble-challtestsrv",
        // Serve third-party buildpacks to builds (tests/buildpack_api.rs).
        "python3",
        "ip",
        // Loads the dashboard as a browser does (tests/dashboard.rs).
        "chromium",
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            found,
            "`{program}` is missing: run `.ci/run` or install it (see README)"
        );
    }
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// How often a test that waits for something asks again.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// Asks `attempt` every 250 ms until it answers `Ok`, for at most `within`:
/// `Ok` with that answer, else `Err` with the last one. The one loop of the
/// suite for what takes a while (a dyno coming back, a log line arriving).
pub fn poll<T, E>(within: Duration, mut attempt: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = Instant::now() + within;
    loop {
        match attempt() {
            Ok(done) => return Ok(done),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => std::thread::sleep(POLL_EVERY),
        }
    }
}

/// `poll`, failing the test after `within` with what it waited for and the
/// last thing `check` saw.
pub fn wait_for<T>(what: &str, within: Duration, check: impl FnMut() -> Result<T, String>) -> T {
    poll(within, check)
        .unwrap_or_else(|last| panic!("waited {within:?} for {what}; last seen:\n{last}"))
}

/// `wait_for` a condition that has nothing to show.
pub fn wait_until(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    wait_for(what, within, || {
        if check() {
            Ok(())
        } else {
            Err(String::new())
        }
    })
}

/// The add-on's generated name, from `Creating NAME on APP...`.
pub fn created_addon(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("Creating ")?.split(' ').next())
        .unwrap_or_else(|| panic!("no `Creating` line in:\n{output}"))
        .to_string()
}

/// `git ARGS` in `dir`: its stdout, trimmed.
pub fn git_output(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Quotes a word for the remote side, the way a shell user would.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

impl TestServer {
    /// An install whose new dynos need stay up only 1 s (instead of 10)
    /// before taking traffic, so the suite's many deploys stay quick.
    pub fn start() -> TestServer {
        let server = TestServer::start_with_default_checks();
        server.ok(&["checks:set", "--global", "uptime", "1"]);
        server
    }

    /// `start`, on an install that lets apps' URLs (drains,
    /// `MAINTENANCE_PAGE_URL`, `pg:backups:restore` URLs, webhooks) lead
    /// into the server's own network: the tests' receivers listen on
    /// 127.0.0.1.
    pub fn start_allowing_private_urls() -> TestServer {
        let server = TestServer::not_installed();
        server.install(&["--allow-private-urls", "yes"]);
        server.ok(&["checks:set", "--global", "uptime", "1"]);
        server
    }

    /// An install as a user gets it.
    pub fn start_with_default_checks() -> TestServer {
        let server = TestServer::not_installed();
        server.install(&[]);
        server
    }

    /// A root, ports and a client key, before `paas server install`.
    pub fn not_installed() -> TestServer {
        require_prerequisites();
        let root = tempfile::Builder::new()
            .prefix("paas-test-")
            .tempdir()
            .unwrap();
        let client = tempfile::Builder::new()
            .prefix("paas-client-")
            .tempdir()
            .unwrap();
        let key = client.path().join("id_ed25519");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "tester", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        TestServer {
            root,
            client,
            ssh_port: free_port(),
            http_port: free_port(),
            https_port: free_port(),
            small_disk: false,
        }
    }

    /// `start`, with the root on a tmpfs of `mib` MiB: a disk a test can
    /// fill (`fill_disk`) without filling the machine's. Podman's store
    /// stays on the machine's disk.
    pub fn start_on_small_disk(mib: u64) -> TestServer {
        let mut server = TestServer::not_installed();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700")])
            .arg("paas-test-disk")
            .arg(server.root.path())
            .status()
            .unwrap();
        assert!(status.success(), "could not mount a tmpfs for the root");
        server.small_disk = true;
        // No free space wanted before a push: the tests fill this disk to
        // see each write fail (`--min-free-disk` is tested on its own).
        server.install(&["--min-free-disk", "0"]);
        share_mount_with_podman(server.root.path());
        server.ok(&["checks:set", "--global", "uptime", "1"]);
        server
    }

    /// Fills the root's disk with `filler` until `leave` bytes are free
    /// (page by page: tmpfs counts in pages). Removing the file frees it.
    pub fn fill_disk(&self, filler: &Path, leave: u64) {
        use std::os::unix::io::AsRawFd;
        let free = free_bytes(self.root.path());
        let file = std::fs::File::create(filler).unwrap();
        let len = free.saturating_sub(leave);
        if len > 0 {
            // SAFETY: a file we opened for writing, and a length.
            let err = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
            assert_eq!(err, 0, "could not fill the disk");
        }
    }

    /// Runs `paas server install` (again) with the test's ports and key,
    /// and `extra` options.
    pub fn install(&self, extra: &[&str]) {
        let output = self.try_install(extra);
        assert!(
            output.status.success(),
            "install failed:\n{}",
            text(&output)
        );
    }

    pub fn try_install(&self, extra: &[&str]) -> Output {
        self.install_command(extra).output().unwrap()
    }

    /// The `paas server install` command `try_install` runs.
    pub fn install_command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(paas_bin());
        command
            .args(["server", "install", "--local", "--root"])
            .arg(self.root.path())
            .args(["--ssh-port", &self.ssh_port.to_string()])
            .args(["--http-port", &self.http_port.to_string()])
            .args(["--https-port", &self.https_port.to_string()])
            .arg("--admin-key")
            .arg(self.key().with_extension("pub"))
            .args(extra);
        command
    }

    /// Runs `paas` on the server itself, as root (the way an admin would).
    pub fn local(&self, args: &[&str]) -> Output {
        Command::new(paas_bin())
            .arg("--root")
            .arg(self.root.path())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs podman as the install's owner, on this install's containers.
    pub fn podman(&self, args: &[&str]) -> String {
        let uid = String::from_utf8_lossy(
            &Command::new("id")
                .args(["-u", "paas"])
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .to_string();
        let output = Command::new("runuser")
            .args(["-u", "paas", "--", "podman"])
            .args(args)
            .current_dir("/")
            .env("HOME", "/home/paas")
            .env("XDG_RUNTIME_DIR", format!("/run/user/{uid}"))
            .output()
            .unwrap();
        text(&output)
    }

    /// The install's id, which its containers' names and labels carry.
    pub fn install_id(&self) -> String {
        let settings = std::fs::read_to_string(self.root.path().join("paas.toml")).unwrap();
        settings
            .lines()
            .find_map(|l| l.strip_prefix("install_id = "))
            .unwrap()
            .trim_matches('"')
            .to_string()
    }

    /// The names of this install's running containers for `app`.
    pub fn containers(&self, app: &str) -> Vec<String> {
        let id = self.install_id();
        self.podman(&[
            "ps",
            "--filter",
            &format!("label=paas.install={id}"),
            "--filter",
            &format!("label=paas.app={app}"),
            "--format",
            "{{.Names}}",
        ])
        .split_whitespace()
        .map(String::from)
        .collect()
    }

    pub fn key(&self) -> PathBuf {
        self.client.path().join("id_ed25519")
    }

    fn ssh_options(&self, key: &Path) -> Vec<String> {
        vec![
            "-i".into(),
            key.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
            "-o".into(),
            "BatchMode=yes".into(),
        ]
    }

    /// The port, for commands that name the host without a URL.
    fn port_option(&self) -> [String; 2] {
        ["-p".into(), self.ssh_port.to_string()]
    }

    /// An `ssh paas@127.0.0.1 <args>` process to spawn and drive (`-tt` for a terminal).
    pub fn ssh_process(&self, force_tty: bool, args: &[&str]) -> Command {
        let mut command = Command::new("ssh");
        if force_tty {
            command.arg("-tt");
        }
        command
            .args(self.ssh_options(&self.key()))
            .args(self.port_option())
            .arg("paas@127.0.0.1")
            .args(args);
        command
    }

    /// `ssh paas@127.0.0.1 <raw command line>` with a given key.
    pub fn ssh_raw_with_key(&self, key: &Path, command_line: &str) -> Output {
        let mut command = Command::new("ssh");
        command
            .args(self.ssh_options(key))
            .args(self.port_option())
            .arg("paas@127.0.0.1");
        if !command_line.is_empty() {
            command.arg(command_line);
        }
        command.stdin(std::process::Stdio::null()).output().unwrap()
    }

    /// The `ssh` command line `git push` uses, with `key`.
    pub fn ssh_command_with_key(&self, key: &Path) -> String {
        format!("ssh {}", self.ssh_options(key).join(" "))
    }

    /// The server's address for `--remote` and git remotes.
    pub fn address(&self) -> String {
        format!("ssh://paas@127.0.0.1:{}", self.ssh_port)
    }

    /// A laptop-side `paas` in `dir`: no install at its root, the test key
    /// through `GIT_SSH_COMMAND` as for `git push`, and `HOME` = `home`.
    pub fn client(&self, dir: &Path, home: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(paas_bin());
        command
            .args(args)
            .current_dir(dir)
            .env("PAAS_ROOT", home.join("no-install-here"))
            .env("HOME", home)
            .env("GIT_SSH_COMMAND", self.git_ssh_command())
            .env_remove("PAAS_REMOTE")
            .env_remove("PAAS_SSH_COMMAND");
        command
    }

    pub fn ssh_raw(&self, command_line: &str) -> Output {
        self.ssh_raw_with_key(&self.key(), command_line)
    }

    /// Runs a paas command over SSH, each argument quoted.
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.cmd_with_key(&self.key(), args)
    }

    /// `cmd` as the user whose key is `key`.
    pub fn cmd_with_key(&self, key: &Path, args: &[&str]) -> Output {
        let line: Vec<String> = args.iter().map(|a| quote(a)).collect();
        self.ssh_raw_with_key(key, &line.join(" "))
    }

    /// A new key pair in the client's directory for another user, added
    /// by the admin (`keys:add --user`). Returns the private key's path.
    pub fn add_user(&self, user: &str) -> PathBuf {
        let key = self.client.path().join(format!("id_{user}"));
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", user, "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
        let public = key.with_extension("pub");
        let added = self.local(&["keys:add", "--user", user, public.to_str().unwrap()]);
        assert!(added.status.success(), "{}", text(&added));
        key
    }

    /// Runs a paas command over SSH and insists it fails saying `expected`.
    pub fn refused(&self, args: &[&str], expected: &str) {
        let output = self.cmd(args);
        assert!(!output.status.success(), "`{}` should fail", args.join(" "));
        assert!(text(&output).contains(expected), "{}", text(&output));
    }

    /// The SHA-256 the server lists for a backup (the latest without `id`).
    pub fn backup_sha256(&self, app: &str, id: Option<&str>) -> String {
        let mut args = vec!["pg:backups:info", "-a", app];
        args.extend(id);
        self.ok(&args)
            .lines()
            .find_map(|l| l.strip_prefix("SHA-256:"))
            .expect("a SHA-256 line")
            .trim()
            .to_string()
    }

    /// Runs a paas command over SSH and insists it succeeds; returns its output.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.cmd(args);
        assert!(
            output.status.success(),
            "`paas {}` failed:\n{}",
            args.join(" "),
            text(&output)
        );
        text(&output)
    }

    /// Runs `script` in a one-off dyno of `app` that prints `OPEN` or
    /// `CLOSED` on a line of its own, and returns which (the `Running …`
    /// line quotes the script, so the answer is the line, not a substring).
    pub fn one_off_says_open(&self, app: &str, script: &str) -> bool {
        let output = self.ok(&["run", "-a", app, "bash", "-c", script]);
        let answer = output
            .lines()
            .map(str::trim)
            .find(|l| *l == "OPEN" || *l == "CLOSED")
            .unwrap_or_else(|| panic!("no answer in:\n{output}"));
        answer == "OPEN"
    }

    fn git_ssh_command(&self) -> String {
        format!("ssh {}", self.ssh_options(&self.key()).join(" "))
    }

    /// A local clone of `fixture` with the `deploy` remote pointing at `app`.
    pub fn repo(&self, fixture: &str, app: &str) -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("paas-repo-")
            .tempdir()
            .unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
        copy_dir(&source, dir.path());
        let repo = Repo {
            dir,
            git_ssh: self.git_ssh_command(),
        };
        repo.git(&["init", "-q", "-b", "master"]);
        repo.git(&[
            "remote",
            "add",
            "deploy",
            &format!("ssh://paas@127.0.0.1:{}/{app}", self.ssh_port),
        ]);
        repo.commit("initial");
        repo
    }

    /// GETs `path` of `app` through the router: (status, body).
    pub fn get(&self, app: &str, path: &str) -> (u16, String) {
        self.get_with(app, path, &["-m", "10"])
    }

    /// `get` until it answers 200 (a dyno or database coming back), for at
    /// most `within`: that answer, else the last one, body trimmed.
    pub fn get_when_200(&self, app: &str, path: &str, within: Duration) -> (u16, String) {
        let answer = poll(within, || {
            let (code, body) = self.get(app, path);
            let answer = (code, body.trim().to_string());
            if code == 200 {
                Ok(answer)
            } else {
                Err(answer)
            }
        });
        answer.unwrap_or_else(|last| last)
    }

    /// `ps` of `app` once it shows `expected`; fails the test after `within`.
    pub fn wait_for_ps(&self, app: &str, expected: &str, within: Duration) -> String {
        wait_for(&format!("`{expected}` in `ps`"), within, || {
            let ps = self.ok(&["ps", "-a", app]);
            if ps.contains(expected) {
                Ok(ps)
            } else {
                Err(ps)
            }
        })
    }

    /// GETs `https://HOST:PORT/PATH` with curl, trusting `ca`: (status, HTTP
    /// version, body). Status 0 when no answer came.
    pub fn curl_https(
        &self,
        ca: &Path,
        host: &str,
        path: &str,
        extra: &[&str],
    ) -> (u16, String, String) {
        let output = Command::new("curl")
            .args([
                "-s",
                "-m",
                "10",
                "-w",
                "\n%{http_code} %{http_version}",
                "--cacert",
            ])
            .arg(ca)
            .args(extra)
            .arg(format!("https://{host}:{}{path}", self.https_port))
            .output()
            .unwrap();
        let all = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, last) = all.rsplit_once('\n').unwrap_or(("", "0 0"));
        let (code, version) = last.split_once(' ').unwrap_or(("0", "0"));
        (
            code.parse().unwrap_or(0),
            version.to_string(),
            body.to_string(),
        )
    }

    /// GET `/` through the router with another `Host` (a custom domain on
    /// the router's port): (status, body).
    pub fn get_host(&self, host: &str) -> (u16, String) {
        let output = Command::new("curl")
            .args(["-s", "-m", "10", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Host: {host}"))
            .arg(format!("http://127.0.0.1:{}/", self.http_port))
            .output()
            .unwrap();
        let all = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, code) = all.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// `get` with more curl options (`-H`, `-m`).
    pub fn get_with(&self, app: &str, path: &str, options: &[&str]) -> (u16, String) {
        let output = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}"])
            .args(options)
            .arg(format!("http://{app}.localhost:{}{path}", self.http_port))
            .output()
            .unwrap();
        let all = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, code) = all.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let root = self.root.path().to_path_buf();
        let _ = Command::new(paas_bin())
            .args(["server", "uninstall", "--root"])
            .arg(&root)
            .arg("--confirm")
            .arg(&root)
            .output();
        if self.small_disk {
            let _ = Command::new("umount").arg("--lazy").arg(&root).status();
            if let Some(pid) = podman_pause_pid() {
                let _ = Command::new("nsenter")
                    .args(["--mount", "--target", &pid.to_string()])
                    .args(["umount", "--lazy"])
                    .arg(&root)
                    .status();
            }
        }
    }
}

/// The pid of rootless podman's pause process for the `paas` user: it
/// holds the user and mount namespaces every container starts in.
fn podman_pause_pid() -> Option<u32> {
    let uid = Command::new("id").args(["-u", "paas"]).output().ok()?;
    let uid = String::from_utf8_lossy(&uid.stdout).trim().to_string();
    let file = format!("/run/user/{uid}/libpod/tmp/pause.pid");
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Makes the mount at `path` visible to rootless podman too. Its pause
/// process keeps the mount namespace it made when it started, and mounts
/// made after that do not reach it where `/` is a private mount, so
/// containers would see the empty directory under the mount. A copy of
/// the mount is moved into that namespace, as systemd injects mounts into
/// running services: `open_tree` here, `setns` and `move_mount` in a child
/// (`setns` into a mount namespace needs a single-threaded process).
fn share_mount_with_podman(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    use std::os::unix::process::CommandExt;
    let pid = podman_pause_pid().expect("podman's pause process runs after an install");
    let inside = format!("/proc/{pid}/root{}", path.display());
    if std::fs::metadata(&inside).unwrap().dev() == std::fs::metadata(path).unwrap().dev() {
        return; // the pause process started after the mount
    }
    let target = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let empty = std::ffi::CString::new("").unwrap();
    let namespace = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).unwrap();
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    // SAFETY: a path and flags; returns a new file descriptor or -1.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            target.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    } as libc::c_int;
    assert!(tree >= 0, "open_tree: {}", std::io::Error::last_os_error());
    let namespace_fd = namespace.as_raw_fd();
    let mut command = Command::new("true");
    // SAFETY: only system calls between fork and exec, on values prepared
    // before the fork.
    unsafe {
        command.pre_exec(move || {
            if libc::setns(namespace_fd, libc::CLONE_NEWNS) != 0
                || libc::syscall(
                    libc::SYS_move_mount,
                    tree,
                    empty.as_ptr(),
                    libc::AT_FDCWD,
                    target.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = command.status();
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(tree) };
    assert!(
        matches!(status, Ok(s) if s.success()),
        "could not share the mount with podman: {status:?}"
    );
    assert_eq!(
        std::fs::metadata(&inside).unwrap().dev(),
        std::fs::metadata(path).unwrap().dev()
    );
}

/// Bytes free on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a struct statvfs to fill.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut stats) }, 0);
    stats.f_bavail as u64 * stats.f_frsize as u64
}

pub struct Repo {
    pub dir: tempfile::TempDir,
    git_ssh: String,
}

impl Repo {
    pub fn git(&self, args: &[&str]) -> Output {
        self.git_command(args).output().unwrap()
    }

    /// The `git` command `git` runs, to spawn and drive.
    pub fn git_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command
            .args([
                "-c",
                "user.name=Tester",
                "-c",
                "user.email=tester@example.com",
            ])
            .args(args)
            .current_dir(self.dir.path())
            .env("GIT_SSH_COMMAND", &self.git_ssh);
        command
    }

    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        let output = self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        assert!(output.status.success(), "commit failed: {}", text(&output));
    }

    pub fn write(&self, path: &str, content: &str) {
        std::fs::write(self.dir.path().join(path), content).unwrap();
    }

    pub fn head(&self) -> String {
        String::from_utf8_lossy(&self.git(&["rev-parse", "HEAD"]).stdout)
            .trim()
            .to_string()
    }

    /// `git push deploy master`; returns the output, success or not.
    pub fn push(&self) -> Output {
        self.git(&["push", "deploy", "master"])
    }

    /// Pushes and insists it is rejected; what the push printed.
    pub fn push_refused(&self) -> String {
        let output = self.push();
        assert!(
            !output.status.success(),
            "push deployed:\n{}",
            text(&output)
        );
        text(&output)
    }

    /// Pushes and insists it deploys.
    pub fn push_ok(&self) -> String {
        let output = self.push();
        assert!(output.status.success(), "push failed:\n{}", text(&output));
        text(&output)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A private certificate authority and a certificate it signed for
/// `127.0.0.1`, `localhost` and any other hosts named, made with openssl in
/// a directory every user can read (the daemon runs as `paas`).
pub struct TestCertificates {
    /// Kept for as long as the certificates are used.
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCertificates {
    pub fn new() -> TestCertificates {
        TestCertificates::for_hosts(&[])
    }

    pub fn for_hosts(hosts: &[&str]) -> TestCertificates {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("paas-certs-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = r#"set -e
            ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            openssl req -x509 $ec -keyout ca.key -out ca.pem -days 3 -subj /CN=paas-test-ca
            openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost%s\nbasicConstraints=CA:FALSE\n' "$HOSTS" > ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
              -out server.pem -days 3 -extfile ext
            chmod 0644 ca.pem server.pem server.key"#;
        let names: String = hosts.iter().map(|h| format!(",DNS:{h}")).collect();
        let output = Command::new("sh")
            .args(["-c", script])
            .env("HOSTS", names)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "openssl: {}", text(&output));
        TestCertificates {
            ca: dir.path().join("ca.pem"),
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server.key"),
            _dir: dir,
        }
    }

    /// A rustls server configuration presenting the certificate.
    pub fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer> = CertificateDer::pem_file_iter(&self.cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&self.key).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        std::sync::Arc::new(config)
    }
}

/// One GET through the router on a new connection: the status line, or
/// what went wrong.
pub fn raw_get(port: u16, host: &str, path: &str) -> Result<String, String> {
    raw_exchange(port, host, path).map(|(status, _)| status)
}

/// One GET on a new connection: a 200's status line and body, or the whole
/// answer (or what went wrong) for anything else.
fn raw_exchange(port: u16, host: &str, path: &str) -> Result<(String, String), String> {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(40)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    match answer.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok((
            head.lines().next().unwrap_or_default().to_string(),
            body.to_string(),
        )),
        _ => Err(answer),
    }
}

/// A client requesting an app through the router back to back from a
/// thread of its own, counting what failed, until `stop` (or 10,000
/// requests, or two minutes).
pub struct Poller {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(usize, Vec<String>, Vec<String>)>,
}

impl Poller {
    pub fn start(port: u16, host: &str) -> Poller {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (flag, host) = (stop.clone(), host.to_string());
        let thread = std::thread::spawn(move || {
            let (mut served, mut failures, mut bodies) = (0, Vec::new(), Vec::new());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            for _ in 0..10_000 {
                if flag.load(Ordering::SeqCst) || std::time::Instant::now() > deadline {
                    break;
                }
                match raw_exchange(port, &host, "/") {
                    Ok((_, body)) => {
                        served += 1;
                        if bodies.last() != Some(&body) {
                            bodies.push(body);
                        }
                    }
                    Err(err) => failures.push(err),
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            (served, failures, bodies)
        });
        Poller { stop, thread }
    }

    /// Requests served, the failures, and the bodies as they changed.
    pub fn stop(self) -> (usize, Vec<String>, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}
