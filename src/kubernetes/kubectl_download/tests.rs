//! kubectl downloaded from a mirror on a loopback port: fake kubectls
//! (shell scripts printing what `kubectl version -o json` printed) and
//! their checksums.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::sync::{Arc, Mutex};

use super::*;
use crate::kubernetes::kubectl::{Exchange, Real, Recorded};
use crate::net::test_server::{read_request, serve};

/// A mirror serving `files` by path; the paths asked, in order.
struct Mirror {
    url: String,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Mirror {
    fn start() -> Mirror {
        let files: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let (served, heard) = (files.clone(), asked.clone());
        let port = serve(move |stream| {
            let mut reader = BufReader::new(stream);
            let Some(request) = read_request(&mut reader) else {
                return;
            };
            let path = request.split(' ').nth(1).unwrap_or("").to_string();
            heard.lock().unwrap().push(path.clone());
            let body = served.lock().unwrap().get(&path).cloned();
            let out = reader.get_mut();
            let _ = match body {
                Some(body) => {
                    let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    out.write_all(&body)
                }
                None => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            };
        });
        Mirror {
            url: format!("http://127.0.0.1:{port}"),
            files,
            asked,
        }
    }

    /// Serves `kubectl` as `release`, with its right checksum.
    fn release(&self, release: &str, kubectl: &[u8]) {
        let path = binary_url("", release);
        let sum = format!("{:x}", Sha256::digest(kubectl));
        self.put(&format!("{path}.sha256"), sum.as_bytes());
        self.put(&path, kubectl);
    }

    fn put(&self, path: &str, body: &[u8]) {
        self.files
            .lock()
            .unwrap()
            .insert(path.into(), body.to_vec());
    }

    fn asked(&self) -> Vec<String> {
        std::mem::take(&mut self.asked.lock().unwrap())
    }
}

/// A kubectl that says it is `client`, talking to a cluster at `server`
/// (or one that does not answer).
fn fake_kubectl(client: &str, server: Option<&str>) -> Vec<u8> {
    let version = |git: &str| {
        let minor = git.split('.').nth(1).unwrap();
        format!(
            r#"{{"major": "1", "minor": "{minor}", "gitVersion": "{git}", "platform": "linux/amd64"}}"#
        )
    };
    let (server_json, failing) = match server {
        Some(server) => (format!(r#", "serverVersion": {}"#, version(server)), ""),
        None => (
            String::new(),
            "echo 'The connection to the server 10.0.0.11:6443 was refused' >&2\nexit 1\n",
        ),
    };
    format!(
        "#!/bin/sh\ncat <<'EOF'\n{{\"clientVersion\": {}, \"kustomizeVersion\": \"v5.4.2\"{server_json}}}\nEOF\n{failing}",
        version(client)
    )
    .into_bytes()
}

/// kubectl as paas finds it, with no other on the PATH: the one installed
/// in `root`, if any.
fn installed_only(root: &Root) -> impl Fn(&Path) -> Option<Box<dyn Kubectl>> + '_ {
    move |kubeconfig| {
        kubectl::find(root, None)?;
        Some(Box::new(Real::new(root, kubeconfig)) as Box<dyn Kubectl>)
    }
}

/// `ensure` from `mirror`, with no kubectl but the one installed in `root`.
fn ensure_installed_only(root: &Root, mirror: &Mirror) -> Result<()> {
    ensure(
        root,
        &mirror.url,
        Path::new("k.yaml"),
        &installed_only(root),
    )
}

fn a_root() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    (dir, root)
}

/// The files in `<root>/bin`.
fn bin_files(root: &Root) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.path.join("bin")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn urls_follow_the_kubernetes_projects_layout() {
    let arch = version::kubectl_arch();
    assert_eq!(
        binary_url(DEFAULT_MIRROR, "v1.31.4"),
        format!("https://dl.k8s.io/release/v1.31.4/bin/linux/{arch}/kubectl")
    );
    assert_eq!(
        parse_mirror("http://10.0.0.2:8080/k8s/").unwrap(),
        "http://10.0.0.2:8080/k8s"
    );
    assert_eq!(
        parse_mirror("https://dl.k8s.io").unwrap(),
        "https://dl.k8s.io"
    );
    for bad in [
        "dl.k8s.io",
        "ftp://dl.k8s.io",
        "https://",
        "http://h/?x=1",
        "file:///srv",
    ] {
        let err = parse_mirror(bad).unwrap_err();
        assert!(
            err.to_string().contains("is not a kubectl mirror"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn checksums_are_64_hex_digits_alone_or_before_a_name() {
    let sum = "a".repeat(64);
    assert_eq!(parse_checksum(&format!("{sum}\n")), Some(sum.clone()));
    assert_eq!(
        parse_checksum(&format!("{}  kubectl\n", sum.to_uppercase())),
        Some(sum)
    );
    for bad in ["", "abc", &"g".repeat(64), "<html>Not here</html>"] {
        assert_eq!(parse_checksum(bad), None, "{bad}");
    }
}

#[test]
fn a_kubectl_is_installed_only_if_it_matches_its_checksum() {
    let (_dir, root) = a_root();
    let mirror = Mirror::start();
    let first = fake_kubectl("v1.31.4", Some("v1.31.4"));
    mirror.release("v1.31.4", &first);
    install(&root, &mirror.url, "v1.31.4").unwrap();
    let target = kubectl::installed(&root);
    assert_eq!(std::fs::read(&target).unwrap(), first);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&target).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(bin_files(&root), ["kubectl"]);

    // Changed on the way: refused, and the kubectl there stays.
    let path = binary_url("", "v1.32.0");
    mirror.put(
        &format!("{path}.sha256"),
        format!("{}  kubectl\n", "0".repeat(64)).as_bytes(),
    );
    mirror.put(&path, b"#!/bin/sh\necho evil\n");
    let err = install(&root, &mirror.url, "v1.32.0").unwrap_err();
    assert!(
        err.to_string().contains("does not match its checksum"),
        "{err}"
    );
    let full = format!("{err:?}");
    assert!(full.contains("nothing was installed"), "{full}");
    assert!(full.contains(&"0".repeat(64)), "{full}");
    assert_eq!(std::fs::read(&target).unwrap(), first);
    assert_eq!(bin_files(&root), ["kubectl"]);

    // Not there at all: what and what to do.
    let err = install(&root, &mirror.url, "v1.33.0").unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not download the checksum of kubectl v1.33.0"
    );
    let full = format!("{err:?}");
    assert!(full.contains("answered 404 Not Found"), "{full}");
    assert!(full.contains("--kubectl-mirror URL"), "{full}");
    assert!(full.contains("/usr/local/bin/kubectl"), "{full}");
    let path = binary_url("", "v1.33.0");
    mirror.put(&format!("{path}.sha256"), "b".repeat(64).as_bytes());
    let err = install(&root, &mirror.url, "v1.33.0").unwrap_err();
    assert_eq!(err.to_string(), "could not download kubectl v1.33.0");
    assert_eq!(bin_files(&root), ["kubectl"]);
    assert_eq!(std::fs::read(&target).unwrap(), first);
}

#[test]
fn with_no_kubectl_the_stable_one_asks_the_cluster_then_its_own_release_is_installed() {
    let (_dir, root) = a_root();
    let mirror = Mirror::start();
    mirror.put("/release/stable.txt", b"v1.34.1\n");
    mirror.release("v1.34.1", &fake_kubectl("v1.34.1", Some("v1.31.4+k3s1")));
    let matching = fake_kubectl("v1.31.4", Some("v1.31.4+k3s1"));
    mirror.release("v1.31.4", &matching);
    ensure_installed_only(&root, &mirror).unwrap();
    assert_eq!(std::fs::read(kubectl::installed(&root)).unwrap(), matching);
    let arch = version::kubectl_arch();
    assert_eq!(
        mirror.asked(),
        [
            "/release/stable.txt".to_string(),
            format!("/release/v1.34.1/bin/linux/{arch}/kubectl.sha256"),
            format!("/release/v1.34.1/bin/linux/{arch}/kubectl"),
            format!("/release/v1.31.4/bin/linux/{arch}/kubectl.sha256"),
            format!("/release/v1.31.4/bin/linux/{arch}/kubectl"),
        ]
    );
    // It suits now: nothing more is downloaded.
    ensure_installed_only(&root, &mirror).unwrap();
    assert_eq!(mirror.asked(), Vec::<String>::new());
}

#[test]
fn a_cluster_that_does_not_answer_keeps_the_stable_kubectl() {
    let (_dir, root) = a_root();
    let mirror = Mirror::start();
    mirror.put("/release/stable.txt", b"v1.34.1\n");
    let stable = fake_kubectl("v1.34.1", None);
    mirror.release("v1.34.1", &stable);
    ensure_installed_only(&root, &mirror).unwrap();
    assert_eq!(std::fs::read(kubectl::installed(&root)).unwrap(), stable);
}

#[test]
fn a_stable_kubectl_that_does_not_suit_is_not_left_behind() {
    let (_dir, root) = a_root();
    let mirror = Mirror::start();
    mirror.put("/release/stable.txt", b"v1.34.1\n");
    mirror.release("v1.34.1", &fake_kubectl("v1.34.1", Some("v1.28.3")));
    // The cluster's release is not on the mirror.
    let err = ensure_installed_only(&root, &mirror).unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not download the checksum of kubectl v1.28.3"
    );
    assert_eq!(bin_files(&root), Vec::<String>::new());
    // A mirror with no stable release says so.
    mirror.put("/release/stable.txt", b"<html>moved</html>");
    let err = ensure_installed_only(&root, &mirror).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("/release/stable.txt` names no release"),
        "{err}"
    );
    mirror.put("/release/stable.txt", &[b'v'; 5000]);
    let err = ensure_installed_only(&root, &mirror).unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not download the stable release's name"
    );
    assert!(format!("{err:?}").contains("over 4 KiB"), "{err:?}");
}

#[test]
fn a_kubectl_that_suits_downloads_nothing_and_one_too_far_is_replaced() {
    let (_dir, root) = a_root();
    let mirror = Mirror::start();
    let answering = |client: &'static str| {
        move |_: &Path| {
            let json = format!(
                r#"{{"clientVersion": {{"major": "1", "minor": "{}", "gitVersion": "{client}"}},
                    "serverVersion": {{"major": "1", "minor": "31", "gitVersion": "v1.31.4+k3s1"}}}}"#,
                client.split('.').nth(1).unwrap()
            );
            Some(
                Box::new(Recorded::new(vec![Exchange::new("version -o json", &json)]))
                    as Box<dyn Kubectl>,
            )
        }
    };
    ensure(
        &root,
        &mirror.url,
        Path::new("k.yaml"),
        &answering("v1.32.0"),
    )
    .unwrap();
    assert_eq!(mirror.asked(), Vec::<String>::new());
    // Debian's kubectl on the PATH, say: the cluster's own is installed,
    // and then comes first.
    let matching = fake_kubectl("v1.31.4", Some("v1.31.4+k3s1"));
    mirror.release("v1.31.4", &matching);
    let debians = answering("v1.20.2");
    let found =
        |kubeconfig: &Path| installed_only(&root)(kubeconfig).or_else(|| debians(kubeconfig));
    ensure(&root, &mirror.url, Path::new("k.yaml"), &found).unwrap();
    assert_eq!(std::fs::read(kubectl::installed(&root)).unwrap(), matching);
    // One that is not what its URL said fails the connect.
    let (_other, root) = a_root();
    mirror.release("v1.31.4", &fake_kubectl("v1.29.0", Some("v1.31.4+k3s1")));
    let found =
        |kubeconfig: &Path| installed_only(&root)(kubeconfig).or_else(|| debians(kubeconfig));
    let err = ensure(&root, &mirror.url, Path::new("k.yaml"), &found).unwrap_err();
    assert!(
        err.to_string().contains("`kubectl` v1.29.0 is too old"),
        "{err}"
    );
}
