//! paas installs the kubectl the cluster needs (#24): Debian 12's is
//! kubectl 1.20, too old for any current cluster, and every program paas
//! runs must be installed by paas itself. At `kubernetes:connect`, a
//! kubectl missing or too far from the cluster's version (`version`) is
//! replaced by the cluster's own release, downloaded from the Kubernetes
//! project's layout (`{base}/release/v1.31.4/bin/linux/amd64/kubectl` and
//! its `.sha256`; `base` is `https://dl.k8s.io` or the admin's
//! `--kubectl-mirror`), checked against its SHA-256 and put at
//! `<root>/bin/kubectl` in one rename. Dokku's scheduler-k3s downloads its
//! tools the same way.

use std::io::{Read, Seek};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::kubectl::{self, Kubectl};
use super::version::{self, Verdict};
use crate::error::{Context, Error, Result};
use crate::net::Reach;
use crate::state::Root;

/// Where kubectl is downloaded from unless `--kubectl-mirror` says.
pub const DEFAULT_MIRROR: &str = "https://dl.k8s.io";

/// kubectl for a kubeconfig file, if there is one to run: the real one
/// (`kubectl::find`), or a recording in tests.
pub type KubectlFor<'a> = &'a dyn Fn(&Path) -> Option<Box<dyn Kubectl>>;

/// A mirror's base URL, `http(s)://HOST[:PORT][/PATH]`, without the
/// trailing `/`.
pub fn parse_mirror(text: &str) -> Result<String> {
    let refused = || {
        Error::new(format!("`{text}` is not a kubectl mirror")).hint(
            "give the http:// or https:// URL under which `release/stable.txt` and \
             `release/vX.Y.Z/bin/linux/ARCH/kubectl` are, as at `https://dl.k8s.io`",
        )
    };
    let url = url::Url::parse(text).map_err(|_| refused())?;
    let plain = url.query().is_none() && url.fragment().is_none();
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || !plain {
        return Err(refused());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The URL of kubectl `release` for this machine, under `mirror`; its
/// checksum is at the same URL with `.sha256`.
pub fn binary_url(mirror: &str, release: &str) -> String {
    format!(
        "{mirror}/release/{release}/bin/linux/{}/kubectl",
        version::kubectl_arch()
    )
}

/// Makes sure the kubectl paas runs suits the cluster of `kubeconfig`,
/// installing the cluster's release when it is missing or too far; a
/// cluster that does not answer is a warning. With no kubectl at all, the
/// mirror's stable one is installed first, to ask the cluster.
pub fn ensure(root: &Root, mirror: &str, kubeconfig: &Path, kubectl_for: KubectlFor) -> Result<()> {
    let Some(kubectl) = kubectl_for(kubeconfig) else {
        let stable = stable_release(mirror)?;
        say!("-----> No kubectl here: first the stable release, {stable}, to ask the cluster its version");
        install(root, mirror, &stable)?;
        let suited = suit(root, mirror, kubeconfig, kubectl_for);
        if suited.is_err() {
            // Not left behind for a cluster it does not suit.
            let _ = std::fs::remove_file(kubectl::installed(root));
        }
        return suited;
    };
    check_and_replace(kubectl.as_ref(), root, mirror, kubeconfig, kubectl_for)
}

/// `check_and_replace` with the kubectl found now.
fn suit(root: &Root, mirror: &str, kubeconfig: &Path, kubectl_for: KubectlFor) -> Result<()> {
    let kubectl = kubectl_for(kubeconfig).ok_or_else(|| {
        Error::unexpected(format!(
            "`{}` was installed, but is not found",
            kubectl::installed(root).display()
        ))
    })?;
    check_and_replace(kubectl.as_ref(), root, mirror, kubeconfig, kubectl_for)
}

/// Checks `kubectl` against the cluster, and installs the cluster's
/// release if it is too far.
fn check_and_replace(
    kubectl: &dyn Kubectl,
    root: &Root,
    mirror: &str,
    kubeconfig: &Path,
    kubectl_for: KubectlFor,
) -> Result<()> {
    match version::check(kubectl)? {
        Verdict::Suits => Ok(()),
        Verdict::NoAnswer(warning) => {
            say!(" !     warning: {warning}");
            Ok(())
        }
        Verdict::TooFar { error, release } => {
            say!(" !     {error}");
            install(root, mirror, &release)?;
            // The one installed, asked again: it must be what its URL said.
            let installed = kubectl_for(kubeconfig)
                .ok_or_else(|| Error::unexpected("the kubectl installed is not found"))?;
            match version::check(installed.as_ref())? {
                Verdict::Suits => Ok(()),
                Verdict::NoAnswer(warning) => {
                    say!(" !     warning: {warning}");
                    Ok(())
                }
                Verdict::TooFar { error, .. } => Err(error),
            }
        }
    }
}

/// Time limits: to connect, for a small file, and for kubectl itself
/// (about 57 MB, on whatever link the server has).
const CONNECT_LIMIT: Duration = Duration::from_secs(30);
const SMALL_LIMIT: Duration = Duration::from_secs(60);
const BINARY_LIMIT: Duration = Duration::from_secs(900);

/// The mirror's current stable release (`release/stable.txt`).
fn stable_release(mirror: &str) -> Result<String> {
    let url = format!("{mirror}/release/stable.txt");
    let text = download_small(&url)
        .map_err(|err| download_error("the stable release's name", mirror, err))?;
    version::parse_release(text.trim()).ok_or_else(|| {
        Error::new(format!("`{url}` names no release"))
            .cause(format!(
                "it says `{}`",
                text.trim().chars().take(40).collect::<String>()
            ))
            .hint(download_hint(mirror))
    })
}

/// A small file (a release's name, a checksum) as text.
fn download_small(url: &str) -> std::result::Result<String, String> {
    let mut body = Small(Vec::new());
    // An admin named the mirror: it may be anywhere, a private network's
    // included.
    crate::net::download(url, Reach::Anywhere, &mut body, CONNECT_LIMIT, SMALL_LIMIT)?;
    Ok(String::from_utf8_lossy(&body.0).into_owned())
}

/// A small file's bytes: one past 4 KiB is no release's name nor a
/// checksum, and is not kept in memory whole.
struct Small(Vec<u8>);

impl std::io::Write for Small {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > 4096 {
            return Err(std::io::Error::other(
                "it is over 4 KiB, so not a release's name or a checksum",
            ));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Downloads kubectl `release` from `mirror`, checks it against its
/// SHA-256 and puts it at `<root>/bin/kubectl` in one rename: a failure
/// leaves the kubectl there was, or none.
pub fn install(root: &Root, mirror: &str, release: &str) -> Result<()> {
    let url = binary_url(mirror, release);
    say_partial!(
        "-----> Installing kubectl {release} for the cluster (linux/{})… ",
        version::kubectl_arch()
    );
    let result = download_and_place(root, mirror, release, &url);
    say!("{}", if result.is_ok() { "done" } else { "failed" });
    result
}

fn download_and_place(root: &Root, mirror: &str, release: &str, url: &str) -> Result<()> {
    let what = format!("kubectl {release}");
    let listed = download_small(&format!("{url}.sha256"))
        .map_err(|err| download_error(&format!("the checksum of {what}"), mirror, err))?;
    let expected = parse_checksum(&listed).ok_or_else(|| {
        Error::new(format!("`{url}.sha256` is not a SHA-256")).hint(download_hint(mirror))
    })?;
    let target = kubectl::installed(root);
    let dir = target.parent().expect("bin/kubectl has a parent");
    std::fs::create_dir_all(dir).context(|| format!("creating `{}`", dir.display()))?;
    // Beside its place, removed when dropped unless it is put there.
    let mut temp = tempfile::Builder::new()
        .prefix(".kubectl-")
        .tempfile_in(dir)
        .context(|| format!("creating a temporary file in `{}`", dir.display()))?;
    crate::net::download(
        url,
        Reach::Anywhere,
        temp.as_file_mut(),
        CONNECT_LIMIT,
        BINARY_LIMIT,
    )
    .map_err(|err| download_error(&what, mirror, err))?;
    let actual =
        sha256_of(temp.as_file_mut()).context(|| format!("reading `{}`", temp.path().display()))?;
    if actual != expected {
        return Err(Error::new(format!(
            "the kubectl downloaded from `{url}` does not match its checksum"
        ))
        .cause(format!(
            "its SHA-256 is {actual}; `{url}.sha256` says {expected}"
        ))
        .hint(format!(
            "nothing was installed; connect again to download it again. If it keeps \
             happening, what `{mirror}` serves, or what comes on the way, is not what its \
             checksum names: {}",
            other_ways()
        )));
    }
    use std::os::unix::fs::PermissionsExt;
    let file = temp.as_file();
    file.set_permissions(std::fs::Permissions::from_mode(0o755))
        .and_then(|()| file.sync_all())
        .context(|| format!("writing `{}`", temp.path().display()))?;
    // Closed once in place (the returned file dropped): a program still
    // open for writing does not start ("text file busy").
    drop(
        temp.persist(&target)
            .map_err(|err| err.error)
            .context(|| format!("replacing `{}`", target.display()))?,
    );
    crate::state::sync_dir(dir)
}

/// The hex SHA-256 a `.sha256` file gives (alone, as dl.k8s.io's are, or
/// before a file name, as `sha256sum` writes), in lowercase.
pub fn parse_checksum(text: &str) -> Option<String> {
    let hash = text.split_whitespace().next()?.to_ascii_lowercase();
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// The hex SHA-256 of a file, read from its start.
fn sha256_of(file: &mut std::fs::File) -> std::io::Result<String> {
    file.rewind()?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

fn download_error(what: &str, mirror: &str, err: String) -> Error {
    Error::new(format!("could not download {what}"))
        .cause(err)
        .hint(download_hint(mirror))
}

/// What to do when the mirror does not serve kubectl.
fn download_hint(mirror: &str) -> String {
    format!(
        "the server must reach `{mirror}`; on a server that cannot, {}",
        other_ways()
    )
}

/// The ways to a kubectl other than this mirror's.
fn other_ways() -> &'static str {
    "`paas kubernetes:connect --kubectl-mirror URL` names a mirror with dl.k8s.io's layout, \
     or install the kubectl of the cluster's version by hand as `/usr/local/bin/kubectl` \
     (and remove the one in the state root's `bin/`, which comes first). Nothing was changed"
}

#[cfg(test)]
mod tests;
