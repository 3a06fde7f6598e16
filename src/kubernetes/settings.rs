//! What `kubernetes:connect` records once per server (`kubernetes.toml`:
//! the registry, the cluster's kubeconfig, the namespaces' prefix), and
//! per app the images pushed for its releases (`kubernetes-images.toml`),
//! so manifests and rollbacks name each release's image by its digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::state::{self, AppDir, AppName, Root};

/// The namespaces' prefix when `kubernetes:connect` names none.
pub const DEFAULT_NAMESPACE_PREFIX: &str = "paas-";

/// cert-manager's issuer for apps with `certs:auto`, unless named.
pub const DEFAULT_CLUSTER_ISSUER: &str = "letsencrypt";

/// The server's connection to a registry and, optionally, a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// `HOST[:PORT][/PATH]`: images go to `<registry>/<app>:v<N>`.
    pub registry: String,
    /// Plain HTTP, or a certificate not to check: only when the admin
    /// said so (`--insecure-registry`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_registry: bool,
    /// The kubeconfig kubectl uses; none: the registry alone (push and
    /// manifests, no deploys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    #[serde(default = "default_prefix")]
    pub namespace_prefix: String,
    #[serde(default = "default_issuer")]
    pub cluster_issuer: String,
    /// Where `kubernetes:connect` downloads kubectl (`--kubectl-mirror`);
    /// none: `https://dl.k8s.io`. Files from before it load without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubectl_mirror: Option<String>,
}

fn default_prefix() -> String {
    DEFAULT_NAMESPACE_PREFIX.into()
}

fn default_issuer() -> String {
    DEFAULT_CLUSTER_ISSUER.into()
}

impl Cluster {
    fn file(root: &Root) -> PathBuf {
        root.path.join("kubernetes.toml")
    }

    /// The recorded connection, if `kubernetes:connect` ran.
    pub fn load(root: &Root) -> Result<Option<Cluster>> {
        let file = Cluster::file(root);
        if !file.exists() {
            return Ok(None);
        }
        state::read_toml(&file).map(Some)
    }

    /// The recorded connection, or an error saying how to make one.
    pub fn require(root: &Root) -> Result<Cluster> {
        Cluster::load(root)?.ok_or_else(|| {
            Error::new("this server has no registry for Kubernetes")
                .hint("an admin runs `paas kubernetes:connect --registry HOST[:PORT]` once")
        })
    }

    pub fn save(&self, root: &Root) -> Result<()> {
        state::write_toml(&Cluster::file(root), self, 0o600)
    }

    /// The kubeconfig, or an error saying the registry alone was given.
    pub fn require_kubeconfig(&self) -> Result<&Path> {
        self.kubeconfig.as_deref().ok_or_else(|| {
            Error::new("this server has a registry but no cluster")
                .hint("an admin runs `paas kubernetes:connect --registry … --kubeconfig FILE`")
        })
    }

    /// Where release `version` of `app` is pushed: `<registry>/<app>:v<N>`.
    pub fn tag(&self, app: &AppName, version: u32) -> String {
        format!("{}/{app}:v{version}", self.registry.trim_end_matches('/'))
    }

    /// The app's namespace: the prefix and its name.
    pub fn namespace(&self, app: &AppName) -> String {
        format!("{}{app}", self.namespace_prefix)
    }
}

/// `HOST[:PORT][/PATH]`, as podman names a registry: no scheme, no tag,
/// lowercase host; refused with what to write instead.
pub fn parse_registry(text: &str) -> Result<String> {
    let text = text.trim().trim_end_matches('/');
    if let Some((scheme, _)) = text.split_once("://") {
        return Err(
            Error::new(format!("`{text}` names a scheme (`{scheme}://`)")).hint(
                "give the registry as HOST[:PORT], such as `registry.example.com:5000`; \
                   `--insecure-registry` for one on plain HTTP",
            ),
        );
    }
    let (host, path) = text.split_once('/').unwrap_or((text, ""));
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    let path_ok = path.split('/').all(|part| {
        path.is_empty()
            || (!part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)))
    });
    if !(name_ok && port_ok && path_ok) {
        return Err(Error::new(format!("`{text}` is not a registry")).hint(
            "give it as HOST[:PORT][/PATH] in lowercase, such as `registry.example.com:5000/team`",
        ));
    }
    Ok(text.to_string())
}

/// The images pushed for an app's releases, by version: what the cluster
/// pulls (`<registry>/<app>:v<N>@sha256:…`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PushedImages {
    #[serde(default)]
    pub releases: BTreeMap<String, String>,
}

impl PushedImages {
    fn file(app: &AppDir) -> PathBuf {
        app.path.join("kubernetes-images.toml")
    }

    pub fn load(app: &AppDir) -> Result<PushedImages> {
        let file = PushedImages::file(app);
        if !file.exists() {
            return Ok(PushedImages::default());
        }
        state::read_toml(&file)
    }

    /// Release `version`'s image, if pushed to `registry` (one pushed to
    /// a registry no longer configured does not count).
    pub fn get(&self, version: u32, registry: &str) -> Option<&str> {
        self.releases
            .get(&format!("v{version}"))
            .map(String::as_str)
            .filter(|reference| reference.starts_with(&format!("{registry}/")))
    }

    /// Records release `version`'s image (under the app's lock).
    pub fn record(app: &AppDir, version: u32, reference: &str) -> Result<()> {
        let mut pushed = PushedImages::load(app)?;
        pushed
            .releases
            .insert(format!("v{version}"), reference.to_string());
        state::write_toml(&PushedImages::file(app), &pushed, 0o644)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_host_port_and_path() {
        assert_eq!(parse_registry("127.0.0.1:5000").unwrap(), "127.0.0.1:5000");
        assert_eq!(
            parse_registry("registry.example.com/team/").unwrap(),
            "registry.example.com/team"
        );
        let err = parse_registry("https://registry.example.com").unwrap_err();
        assert!(err.to_string().contains("names a scheme"), "{err}");
        for bad in [
            "",
            "Registry.example.com",
            "host:99999",
            "host:x",
            "host//a",
            "host/A",
        ] {
            let err = parse_registry(bad).unwrap_err();
            assert!(
                err.to_string().contains("is not a registry"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn tags_and_namespaces_name_the_app() {
        let cluster = Cluster {
            registry: "reg.test:5000".into(),
            insecure_registry: false,
            kubeconfig: None,
            namespace_prefix: "team-".into(),
            cluster_issuer: DEFAULT_CLUSTER_ISSUER.into(),
            kubectl_mirror: None,
        };
        let app = AppName::parse("shop").unwrap();
        assert_eq!(cluster.tag(&app, 7), "reg.test:5000/shop:v7");
        assert_eq!(cluster.namespace(&app), "team-shop");
        let err = cluster.require_kubeconfig().unwrap_err();
        assert!(err.to_string().contains("no cluster"), "{err}");
    }

    #[test]
    fn pushed_images_count_only_in_the_configured_registry() {
        let mut pushed = PushedImages::default();
        pushed
            .releases
            .insert("v3".into(), "old.test/shop:v3@sha256:aa".into());
        assert_eq!(
            pushed.get(3, "old.test"),
            Some("old.test/shop:v3@sha256:aa")
        );
        assert_eq!(pushed.get(3, "new.test"), None);
        assert_eq!(pushed.get(4, "old.test"), None);
    }

    #[test]
    fn settings_from_before_the_kubectl_mirror_load() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::write(
            Cluster::file(&root),
            "registry = \"reg.test:5000\"\nkubeconfig = \"/r/k.yaml\"\nnamespace_prefix = \"paas-\"\ncluster_issuer = \"letsencrypt\"\n",
        )
        .unwrap();
        let mut cluster = Cluster::load(&root).unwrap().unwrap();
        assert_eq!(cluster.kubectl_mirror, None);
        cluster.kubectl_mirror = Some("http://10.0.0.2:8080/k8s".into());
        cluster.save(&root).unwrap();
        assert_eq!(Cluster::load(&root).unwrap(), Some(cluster));
    }
}
