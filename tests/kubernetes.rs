//! Releases on Kubernetes (#24), tested up to the API server, which
//! cannot run on these machines: a release's image goes to a real
//! registry (Debian's `docker-registry` on a loopback port) and comes back
//! by digest into an empty image store, where `podman run IMAGE web`
//! serves the app; its manifests validate against Kubernetes' own schemas
//! (`kubernetes-validate`, in the venv `.ci/run` makes), and `podman kube
//! play` runs its Secret and web Deployment. kubectl's side is unit-tested
//! against recorded exchanges (`src/kubernetes/scheduler.rs`); the
//! kubectl `kubernetes:connect` installs comes from a mirror on a loopback
//! port, for a stand-in cluster answering `/version` alone.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;

use crate::harness::{free_port, poll, text, wait_for, TestServer};

const REGISTRY: &str = "/usr/bin/docker-registry";
const VALIDATE: &str = "/opt/paas-test-venv/bin/kubernetes-validate";

/// A registry on a loopback port, stopped when dropped.
struct Registry {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        assert!(
            Path::new(REGISTRY).exists(),
            "the Kubernetes tests need `{REGISTRY}` (`apt-get install docker-registry`)"
        );
        let dir = tempfile::tempdir().unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {address}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            address,
            _dir: dir,
        };
        wait_for("the registry to answer", Duration::from_secs(20), || {
            let code = registry.curl(&["-o", "/dev/null", "-w", "%{http_code}", "/v2/"]);
            (code == "200").then_some(()).ok_or(code)
        });
        registry
    }

    /// curl's output for `path` on the registry, `options` before it.
    fn curl(&self, options: &[&str]) -> String {
        let (path, options) = options.split_last().unwrap();
        let output = Command::new("curl")
            .args(["-s", "-m", "10"])
            .args(options)
            .arg(format!("http://{}{path}", self.address))
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pushed app with a config var; its push's release is v2 (v1 is the
/// config change made first, so the build runs with it).
fn pushed_app(server: &TestServer, app: &str) {
    server.ok(&["apps:create", app]);
    server.ok(&["config:set", "GREETING=hello-from-config", "-a", app]);
    let repo = server.repo("tests/apps/kubernetes", app);
    let output = repo.push_ok();
    assert!(output.contains("release phase ran"), "{output}");
}

/// `kubernetes:push`'s stdout: the reference, with its digest.
fn push_image(server: &TestServer, app: &str) -> String {
    let output = server.cmd(&["kubernetes:push", "-a", app]);
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The install's owner's podman with an image store of its own, empty at
/// first: what it runs came from the registry.
struct EmptyStore<'a> {
    server: &'a TestServer,
    dir: tempfile::TempDir,
}

impl EmptyStore<'_> {
    fn new(server: &TestServer) -> EmptyStore<'_> {
        let dir = tempfile::Builder::new()
            .prefix("paas-store-")
            .tempdir()
            .unwrap();
        let owned = Command::new("chown")
            .args(["paas:", dir.path().to_str().unwrap()])
            .status()
            .unwrap();
        assert!(owned.success());
        EmptyStore { server, dir }
    }

    /// podman's output (stdout and stderr) on this store.
    fn podman(&self, args: &[&str]) -> String {
        let root = self.dir.path().join("root");
        let run = self.dir.path().join("run");
        let mut all = vec![
            "--root",
            root.to_str().unwrap(),
            "--runroot",
            run.to_str().unwrap(),
        ];
        all.extend(args);
        self.server.podman(&all)
    }
}

impl Drop for EmptyStore<'_> {
    /// Its containers and images, then the directory. Not `system reset`:
    /// that also clears the user's libpod state the install's dynos (and
    /// other tests') live by.
    fn drop(&mut self) {
        self.podman(&["rm", "--force", "--all", "--time", "0"]);
        self.podman(&["rmi", "--force", "--all"]);
    }
}

#[test]
fn a_release_image_goes_to_the_registry_by_digest_and_serves_from_an_empty_store() {
    let server = TestServer::start();
    let registry = Registry::start();
    pushed_app(&server, "kube");
    server.refused(
        &["kubernetes:push", "-a", "kube"],
        "this server has no registry for Kubernetes",
    );
    server.refused(
        &["kubernetes:connect", "--registry", "https://x.test"],
        "names a scheme",
    );
    server.ok(&[
        "kubernetes:connect",
        "--registry",
        &registry.address,
        "--insecure-registry",
    ]);
    let reference = push_image(&server, "kube");
    let (tag, digest) = reference
        .split_once('@')
        .expect("a reference with a digest");
    assert_eq!(tag, format!("{}/kube:v2", registry.address));
    // The registry names the tag's manifest by the same digest.
    let headers = registry.curl(&[
        "-I",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        "/v2/kube/manifests/v2",
    ]);
    assert!(
        headers
            .to_ascii_lowercase()
            .contains(&format!("docker-content-digest: {digest}")),
        "{headers}"
    );

    let store = EmptyStore::new(&server);
    assert!(store.podman(&["images", "--quiet"]).trim().is_empty());
    let pulled = store.podman(&["pull", "--tls-verify=false", &reference]);
    assert!(pulled.contains("Writing manifest"), "{pulled}");
    // The host's network, so the app's `PORT` is on the host's loopback.
    let port = free_port().to_string();
    let started = store.podman(&[
        "run",
        "--detach",
        "--network=host",
        "--hostname=kube-test",
        "--env",
        &format!("PORT={port}"),
        "--env",
        "GREETING=hello-from-podman-run",
        &reference,
        "web",
    ]);
    assert!(!started.contains("Error"), "{started}");
    let body = wait_for("the image to serve", Duration::from_secs(60), || {
        let output = Command::new("curl")
            .args(["-s", "-m", "5", &format!("http://127.0.0.1:{port}/")])
            .output()
            .map_err(|e| e.to_string())?;
        let body = String::from_utf8_lossy(&output.stdout).into_owned();
        body.contains("kube fixture")
            .then_some(body.clone())
            .ok_or(body)
    });
    // `DYNO` is `web.<host name>`, as a pod's is `web.<pod name>`.
    assert_eq!(
        body,
        "kube fixture says hello-from-podman-run on web.kube-test (profile-sourced)\n"
    );
    // Any other command runs as it is, after the same environment.
    let one_off = store.podman(&[
        "run",
        "--rm",
        &reference,
        "bash",
        "-c",
        "echo $HOME $PORT; id -u",
    ]);
    assert_eq!(one_off, "/app 5000\n1000\n");
}

#[test]
fn a_push_to_an_app_on_the_cluster_goes_to_the_registry_and_runs_nothing_here() {
    let server = TestServer::start();
    let registry = Registry::start();
    // A cluster that does not answer: everything up to its API happens.
    let dir = tempfile::tempdir().unwrap();
    make_readable_by_paas(dir.path());
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    std::fs::write(&kubeconfig, unreachable_kubeconfig(free_port())).unwrap();
    // Admins only; over SSH the kubeconfig comes on stdin, never as a
    // path on the server.
    let bob = server.add_user("bob");
    let refused = server.cmd_with_key(
        &bob,
        &["kubernetes:connect", "--registry", &registry.address],
    );
    assert!(
        text(&refused).contains("only an admin"),
        "{}",
        text(&refused)
    );
    server.refused(
        &[
            "kubernetes:connect",
            "--registry",
            &registry.address,
            "--kubeconfig",
            "/etc/shadow",
        ],
        "a kubeconfig path names a file on the server",
    );
    let connected = server
        .ssh_process(
            false,
            &["kubernetes:connect", "--registry", &registry.address],
        )
        .args(["--insecure-registry", "--kubeconfig", "-"])
        .stdin(std::fs::File::open(&kubeconfig).unwrap())
        .output()
        .unwrap();
    assert!(connected.status.success(), "{}", text(&connected));
    server.ok(&["apps:create", "kubeaway"]);
    // Nothing to roll out yet: the move is only recorded.
    server.ok(&["apps:scheduler", "kubernetes", "-a", "kubeaway"]);
    let repo = server.repo("tests/apps/kubernetes", "kubeaway");
    let output = repo.push_refused();
    assert!(output.contains("Pushing"), "{output}");
    assert!(
        output.contains("`kubectl` could not apply the release's objects"),
        "{output}"
    );
    // The release phase is the cluster's Job, never a dyno here.
    assert!(!output.contains("release phase ran"), "{output}");
    let tags = registry.curl(&["/v2/kubeaway/tags/list"]);
    assert!(tags.contains("\"v1\""), "{tags}");
    assert!(server
        .ok(&["releases", "-a", "kubeaway"])
        .contains("none yet"));
    assert!(server.containers("kubeaway").is_empty());
    server.refused(
        &["ps", "-a", "kubeaway"],
        "`kubectl` could not list the pods",
    );
    // The pods' lines come through kubectl; the platform's alone do not.
    server.refused(
        &["logs", "-a", "kubeaway"],
        "`kubectl` could not read the pods' logs",
    );
    server.ok(&["logs", "-s", "paas", "-a", "kubeaway"]);
}

#[test]
fn manifests_validate_against_kubernetes_schemas_and_kube_play_serves_the_web_pod() {
    let server = TestServer::start();
    let registry = Registry::start();
    pushed_app(&server, "kubeplay");
    server.ok(&["domains:add", "www.kubeplay.test", "-a", "kubeplay"]);
    server.ok(&["ps:scale", "worker=1", "-a", "kubeplay"]);
    // `certs:auto:enable` would ask Let's Encrypt for a certificate at
    // once (traffic off the loopback); the manifests read the flag alone.
    let app_toml = server.root.path().join("apps/kubeplay/app.toml");
    let settings = std::fs::read_to_string(&app_toml).unwrap();
    std::fs::write(&app_toml, format!("certs_auto = true\n{settings}")).unwrap();
    server.ok(&[
        "kubernetes:connect",
        "--registry",
        &registry.address,
        "--insecure-registry",
    ]);
    let before_push = server.cmd(&["kubernetes:manifests", "-a", "kubeplay"]);
    assert!(
        text(&before_push).contains("not in the registry yet"),
        "{}",
        text(&before_push)
    );
    let reference = push_image(&server, "kubeplay");
    let output = server.cmd(&["kubernetes:manifests", "-a", "kubeplay"]);
    assert!(output.status.success(), "{}", text(&output));
    let yaml = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(yaml.contains(&format!("image: {reference}")), "{yaml}");
    for expected in [
        "kind: Namespace",
        "kind: Secret",
        "kind: Job",
        "name: worker",
        "kind: Service",
        "host: www.kubeplay.test",
        "cert-manager.io/cluster-issuer: letsencrypt",
        "kind: CronJob",
        "path: /",
    ] {
        assert!(yaml.contains(expected), "no `{expected}` in:\n{yaml}");
    }
    // Deterministic: the same release prints the same objects.
    let again = server.cmd(&["kubernetes:manifests", "v2", "-a", "kubeplay"]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), yaml);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubeplay.yaml");
    std::fs::write(&file, &yaml).unwrap();
    assert!(
        Path::new(VALIDATE).exists(),
        "the Kubernetes tests need `{VALIDATE}` (.ci/run makes it: \
         `python3 -m venv /opt/paas-test-venv && /opt/paas-test-venv/bin/pip install kubernetes-validate`)"
    );
    for version in ["1.30.0", "1.34.0"] {
        let validated = Command::new(VALIDATE)
            .args(["--strict", "-k", version])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            validated.status.success(),
            "Kubernetes {version} refuses the manifests:\n{}\n{yaml}",
            text(&validated)
        );
    }

    // podman reads the web Deployment as Kubernetes would (it ignores
    // Services and Ingresses, which the schemas cover). podman 4.3 keeps
    // a played Secret as its YAML and then fails to read it back as JSON
    // (`secret config-v2 is not valid JSON`), so the Secret's data goes
    // in as podman 4.3 reads a secret: JSON, values in base64.
    let objects: Vec<serde_json::Value> = yaml
        .split("---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| serde_yaml::from_str(doc).unwrap())
        .collect();
    let secret = objects.iter().find(|o| o["kind"] == "Secret").unwrap();
    let mut web = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "web")
        .unwrap()
        .clone();
    // Where rootless podman cannot set limits (cgroup v1: the installer
    // found out), it refuses a memory limit that a kubelet sets; the
    // schemas checked the resources above.
    let paas_toml = std::fs::read_to_string(server.root.path().join("paas.toml")).unwrap();
    if !paas_toml.contains("limits_enforced = true") {
        let container = &mut web["spec"]["template"]["spec"]["containers"][0];
        container.as_object_mut().unwrap().remove("resources");
    }
    let data: serde_json::Map<String, serde_json::Value> = secret["stringData"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(value.as_str().unwrap());
            (key.clone(), encoded.into())
        })
        .collect();
    assert_eq!(data["GREETING"], "aGVsbG8tZnJvbS1jb25maWc=");
    let secret_file = dir.path().join("secret.json");
    std::fs::write(&secret_file, serde_json::to_string(&data).unwrap()).unwrap();
    let play = dir.path().join("web.yaml");
    std::fs::write(&play, serde_yaml::to_string(&web).unwrap()).unwrap();
    make_readable_by_paas(dir.path());
    let secret_name = secret["metadata"]["name"].as_str().unwrap();
    // The paas user's podman outlives installs: no secret of a run before.
    server.podman(&["secret", "rm", secret_name]);
    let created = server.podman(&[
        "secret",
        "create",
        secret_name,
        secret_file.to_str().unwrap(),
    ]);
    assert!(!created.contains("Error"), "{created}");
    let played = server.podman(&["kube", "play", "--tls-verify=false", play.to_str().unwrap()]);
    let result = poll(Duration::from_secs(60), || {
        let body = server.podman(&[
            "exec",
            "web-pod-0-web",
            "curl",
            "-s",
            "-m",
            "5",
            "http://127.0.0.1:5000/",
        ]);
        if body.contains("kube fixture") {
            Ok(body)
        } else {
            Err(body)
        }
    });
    server.podman(&["kube", "down", play.to_str().unwrap()]);
    server.podman(&["secret", "rm", secret_name]);
    let body = result.unwrap_or_else(|last| {
        panic!("the web pod never answered: {last}\nkube play said: {played}")
    });
    // A pod's host name is its name.
    assert!(
        body.starts_with("kube fixture says hello-from-config on web.web-pod"),
        "{body}"
    );
    assert!(body.contains("(profile-sourced)"), "{body}");

    // Moving the app needs a cluster, and one that answers: until the
    // release is rolled out there, the app stays here and serves.
    server.refused(
        &["apps:scheduler", "kubernetes", "-a", "kubeplay"],
        "has a registry but no cluster",
    );
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    std::fs::write(&kubeconfig, unreachable_kubeconfig(free_port())).unwrap();
    let connected = server.local(&[
        "kubernetes:connect",
        "--registry",
        &registry.address,
        "--insecure-registry",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    assert!(connected.status.success(), "{}", text(&connected));
    server.refused(
        &["apps:scheduler", "kubernetes", "-a", "kubeplay"],
        "`kubectl` could not apply the release's objects",
    );
    assert!(server
        .ok(&["apps:scheduler", "-a", "kubeplay"])
        .contains("podman"));
    let (status, body) = server.get("kubeplay", "/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hello-from-config on web.1"), "{body}");
}

/// A kubeconfig for a cluster on a loopback port where none listens.
fn unreachable_kubeconfig(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: nowhere\n  cluster:\n    \
         server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n\
         - name: nobody\n  user:\n    token: nothing\ncontexts:\n- name: nowhere\n  \
         context:\n    cluster: nowhere\n    user: nobody\ncurrent-context: nowhere\n"
    )
}

/// The paas user runs `podman kube play`: it must read the file.
fn make_readable_by_paas(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A stand-in for a Kubernetes 1.12 cluster's API (`/version`, all that
/// `kubectl version` asks) and for dl.k8s.io, serving a fake kubectl
/// v1.12.0 that prints what a real one would; once `tampered`, its
/// checksum no longer matches.
struct ClusterAndMirror {
    port: u16,
    kubectl: Vec<u8>,
    tampered: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ClusterAndMirror {
    fn start() -> ClusterAndMirror {
        use sha2::Digest;
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let version =
            r#"{"major": "1", "minor": "12", "gitVersion": "v1.12.0", "platform": "linux/amd64"}"#;
        let kubectl = format!(
            "#!/bin/sh\ncat <<'EOF'\n{{\"clientVersion\": {version}, \"serverVersion\": {version}}}\nEOF\n"
        )
        .into_bytes();
        let sum = format!("{:x}", sha2::Sha256::digest(&kubectl));
        let tampered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (served, is_tampered) = (kubectl.clone(), tampered.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = String::new();
                let _ = BufReader::new(&stream).read_line(&mut request);
                let path = request.split(' ').nth(1).unwrap_or("").to_string();
                let release = path.strip_prefix("/release/v1.12.0/bin/linux/");
                let body: Option<Vec<u8>> = if path.starts_with("/version") {
                    Some(version.into())
                } else if path == "/release/stable.txt" {
                    Some(b"v1.12.0\n".to_vec())
                } else if release.is_some_and(|r| r.ends_with("/kubectl.sha256")) {
                    Some(if is_tampered.load(Ordering::SeqCst) {
                        "0".repeat(64).into_bytes()
                    } else {
                        sum.clone().into_bytes()
                    })
                } else if release.is_some_and(|r| r.ends_with("/kubectl")) {
                    Some(served.clone())
                } else {
                    None
                };
                let _ = match body {
                    Some(body) => write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .and_then(|()| stream.write_all(&body)),
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            }
        });
        ClusterAndMirror {
            port,
            kubectl,
            tampered,
        }
    }

    fn kubeconfig(&self) -> String {
        unreachable_kubeconfig(self.port)
            .replace("https://", "http://")
            .replace("    insecure-skip-tls-verify: true\n", "")
    }
}

#[test]
fn connect_installs_the_kubectl_of_the_clusters_version_from_the_mirror() {
    let server = TestServer::start_with_default_checks();
    let cluster = ClusterAndMirror::start();
    let mirror = format!("http://127.0.0.1:{}", cluster.port);
    let connect = |extra: &[&str]| {
        let mut args = vec!["kubernetes:connect", "--registry", "127.0.0.1:5000"];
        args.extend(extra);
        let mut command = server.ssh_process(false, &args);
        command.arg("--insecure-registry");
        command.stdin(Stdio::piped());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(cluster.kubeconfig().as_bytes());
        child.wait_with_output().unwrap()
    };
    // Whatever kubectl the machine has (Debian's 1.20, or none) is too far
    // from 1.12, so the cluster's own release comes from the mirror.
    let connected = connect(&["--kubeconfig", "-", "--kubectl-mirror", &mirror]);
    let output = text(&connected);
    assert!(connected.status.success(), "{output}");
    assert!(
        output.contains("Installing kubectl v1.12.0 for the cluster (linux/"),
        "{output}"
    );
    let installed = server.root.path().join("bin/kubectl");
    assert_eq!(std::fs::read(&installed).unwrap(), cluster.kubectl);
    let settings_file = server.root.path().join("kubernetes.toml");
    let settings = std::fs::read_to_string(&settings_file).unwrap();
    assert!(
        settings.contains(&format!("kubectl_mirror = \"{mirror}\"")),
        "{settings}"
    );

    // Gone, and changed on the way this time (the mirror kept from
    // before): refused, nothing installed, nothing changed.
    std::fs::remove_file(&installed).unwrap();
    cluster
        .tampered
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let refused = connect(&[]);
    let output = text(&refused);
    assert!(!refused.status.success(), "{output}");
    assert!(output.contains("does not match its checksum"), "{output}");
    assert!(output.contains("nothing was installed"), "{output}");
    assert!(!installed.exists());
    let left: Vec<_> = std::fs::read_dir(server.root.path().join("bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name.to_string_lossy().contains("kubectl"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(std::fs::read_to_string(&settings_file).unwrap(), settings);
}
