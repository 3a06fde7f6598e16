//! kubectl's version against the cluster's, checked at
//! `kubernetes:connect`: kubectl is supported against API servers one
//! minor version older or newer than itself (Kubernetes' version skew
//! policy), and Debian 12's `kubernetes-client` is kubectl 1.20, ten
//! minor versions behind a current cluster. Against such a cluster it
//! mostly works, but not all of it: its `rollout restart` has no `-l`,
//! and what it validates and sends is 1.20's idea of each object. So a
//! kubectl too far from the cluster is found out here, rather than by a
//! failing deploy, and replaced by the cluster's own release
//! (`kubectl_download`). docs/kubernetes.md lists what paas runs.

use serde::Deserialize;

use super::kubectl::Kubectl;
use crate::error::{Error, Result};

/// A `major.minor` as `kubectl version -o json` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    /// `v1.31.4+k3s1`, for messages.
    pub git: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionsJson {
    client_version: Option<VersionJson>,
    server_version: Option<VersionJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionJson {
    #[serde(default)]
    major: String,
    #[serde(default)]
    minor: String,
    #[serde(default)]
    git_version: String,
}

/// The number a version field starts with: managed clusters and
/// wrapped kubectls say `30+`.
fn leading_number(text: &str) -> Option<u32> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl VersionJson {
    fn version(&self) -> Option<Version> {
        Some(Version {
            major: leading_number(&self.major)?,
            minor: leading_number(&self.minor)?,
            git: self.git_version.clone(),
        })
    }
}

/// kubectl's own version and the server's, if it reached the server.
pub fn parse_versions(stdout: &str) -> Result<(Version, Option<Version>)> {
    let unreadable = |why: String| {
        Error::new("`kubectl version -o json` said something paas cannot read")
            .cause(why)
            .hint("check what `kubectl version -o json` says by hand")
    };
    let versions: VersionsJson =
        serde_json::from_str(stdout).map_err(|err| unreadable(err.to_string()))?;
    let client = versions
        .client_version
        .as_ref()
        .and_then(VersionJson::version)
        .ok_or_else(|| unreadable("no `clientVersion`".into()))?;
    let server = versions
        .server_version
        .as_ref()
        .and_then(VersionJson::version);
    Ok((client, server))
}

/// The cluster's own patch release (`v1.31.4` of `v1.31.4+k3s1`): a
/// kubectl of that release exists for certain. `v<major>.<minor>.0` when
/// the server says something else.
pub fn cluster_release(server: &Version) -> String {
    server
        .git
        .split(['+', '-'])
        .next()
        .and_then(parse_release)
        .unwrap_or_else(|| format!("v{}.{}.0", server.major, server.minor))
}

/// A release as Kubernetes names it, `v1.31.4`, and nothing else: it
/// becomes part of a download's URL, and comes from a cluster's answer
/// or a mirror's `stable.txt`.
pub fn parse_release(text: &str) -> Option<String> {
    let numbers: Vec<&str> = text.strip_prefix('v')?.split('.').collect();
    let numeric = |n: &&str| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit());
    (numbers.len() == 3 && numbers.iter().all(numeric)).then(|| text.to_string())
}

/// Whether `client` may talk to `server`: the same major version, and
/// minor versions at most one apart.
pub fn check_skew(client: &Version, server: &Version) -> Result<()> {
    if client.major == server.major && client.minor.abs_diff(server.minor) <= 1 {
        return Ok(());
    }
    let wanted = format!("{}.{}", server.major, server.minor);
    let release = cluster_release(server);
    let arch = kubectl_arch();
    let too = if (client.major, client.minor) < (server.major, server.minor) {
        "old"
    } else {
        "new"
    };
    Err(Error::new(format!(
        "`kubectl` {} is too {too} for the cluster's Kubernetes {}",
        client.git, server.git
    ))
    .cause(format!(
        "kubectl works with clusters at most one minor version from its own, so this one needs kubectl {}.{} to {}.{}",
        server.major,
        server.minor.saturating_sub(1),
        server.major,
        server.minor + 1
    ))
    .hint(format!(
        "install kubectl {wanted} as `/usr/local/bin/kubectl` (and remove the one paas \
         installed in its state root's `bin/`, which comes first): `curl -fLo \
         /usr/local/bin/kubectl https://dl.k8s.io/release/{release}/bin/linux/{arch}/kubectl \
         && chmod 755 /usr/local/bin/kubectl` (or copy the one k3s ships); then connect \
         again. Nothing was changed"
    )))
}

/// What `kubectl version` says of kubectl and the cluster.
#[derive(Debug)]
pub enum Verdict {
    /// At most one minor version apart.
    Suits,
    /// The cluster did not answer, so the two are not compared: why, to
    /// show as a warning (it may be down a moment, and every later
    /// kubectl call says so).
    NoAnswer(String),
    /// Too far apart: the error saying so, and the release that suits the
    /// cluster (`cluster_release`).
    TooFar { error: Error, release: String },
}

/// Asks kubectl for its version and the cluster's and compares them.
pub fn check(kubectl: &dyn Kubectl) -> Result<Verdict> {
    let answer = kubectl.run(&["version".into(), "-o".into(), "json".into()], None)?;
    // kubectl prints its own version even when the server does not
    // answer, and then exits 1.
    let (client, server) = parse_versions(&answer.stdout)?;
    Ok(match server {
        Some(server) => match check_skew(&client, &server) {
            Ok(()) => Verdict::Suits,
            Err(error) => Verdict::TooFar {
                error,
                release: cluster_release(&server),
            },
        },
        None => Verdict::NoAnswer(format!(
            "`kubectl` {} could not ask the cluster its version, so the two are not compared: {}",
            client.git,
            answer.stderr.trim()
        )),
    })
}

/// This machine's architecture as Kubernetes names its downloads.
pub fn kubectl_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::super::kubectl::{Answer, Exchange, Recorded};
    use super::*;

    /// What Debian 12's kubectl printed against a k3s 1.31 API server.
    const DEBIAN_AGAINST_K3S_131: &str = r#"{
  "clientVersion": {
    "major": "1",
    "minor": "20",
    "gitVersion": "v1.20.2",
    "gitCommit": "faecb196815e248d3ecfb03c680a4507229c2a56",
    "gitTreeState": "archive",
    "buildDate": "2025-06-08T22:40:27Z",
    "goVersion": "go1.19.8",
    "compiler": "gc",
    "platform": "linux/amd64"
  },
  "serverVersion": {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.4+k3s1",
    "gitCommit": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
    "gitTreeState": "clean",
    "buildDate": "2024-12-17T21:25:46Z",
    "goVersion": "go1.22.9",
    "compiler": "gc",
    "platform": "linux/amd64"
  }
}
"#;

    /// What kubectl 1.31 printed against the same server.
    const KUBECTL_131_AGAINST_K3S_131: &str = r#"{
  "clientVersion": {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.9",
    "gitCommit": "8f3800390d488f54f74111f22973059e133f9cba",
    "gitTreeState": "clean",
    "buildDate": "2025-05-15T09:17:16Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64"
  },
  "kustomizeVersion": "v5.4.2",
  "serverVersion": {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.4+k3s1",
    "gitCommit": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
    "gitTreeState": "clean",
    "buildDate": "2024-12-17T21:25:46Z",
    "goVersion": "go1.22.9",
    "compiler": "gc",
    "platform": "linux/amd64"
  }
}
"#;

    /// What a kubectl 1.32 printed when the server did not answer.
    const UNREACHABLE: &str = r#"{
  "clientVersion": {
    "major": "1",
    "minor": "32+",
    "gitVersion": "v1.32.4-dispatcher",
    "gitCommit": "4cb5f0764b8d5f425645c6f433394fede34a8a26",
    "gitTreeState": "clean",
    "buildDate": "2025-05-15T20:09:34Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64"
  },
  "kustomizeVersion": "v5.5.0"
}
"#;

    fn version(minor: u32, git: &str) -> Version {
        Version {
            major: 1,
            minor,
            git: git.into(),
        }
    }

    #[test]
    fn debians_kubectl_is_refused_for_a_current_cluster() {
        let kubectl = Recorded::new(vec![Exchange::new(
            "version -o json",
            DEBIAN_AGAINST_K3S_131,
        )]);
        let Verdict::TooFar {
            error: err,
            release,
        } = check(&kubectl).unwrap()
        else {
            panic!("not too far");
        };
        kubectl.assert_done();
        assert_eq!(release, "v1.31.4");
        assert_eq!(
            err.to_string(),
            "`kubectl` v1.20.2 is too old for the cluster's Kubernetes v1.31.4+k3s1"
        );
        let full = format!("{err:?}");
        assert!(full.contains("needs kubectl 1.30 to 1.32"), "{full}");
        assert!(
            full.contains("https://dl.k8s.io/release/v1.31.4/bin/linux/"),
            "{full}"
        );
    }

    #[test]
    fn a_kubectl_one_minor_version_away_is_fine() {
        let kubectl = Recorded::new(vec![Exchange::new(
            "version -o json",
            KUBECTL_131_AGAINST_K3S_131,
        )]);
        assert!(matches!(check(&kubectl).unwrap(), Verdict::Suits));
        kubectl.assert_done();
        for minor in [30, 31, 32] {
            check_skew(&version(minor, "v1.x"), &version(31, "v1.31.4")).unwrap();
        }
        let err = check_skew(&version(29, "v1.29.0"), &version(31, "v1.31.4")).unwrap_err();
        assert!(err.to_string().contains("is too old"), "{err}");
        let err = check_skew(&version(33, "v1.33.0"), &version(31, "v1.31.4")).unwrap_err();
        assert!(err.to_string().contains("is too new"), "{err}");
    }

    #[test]
    fn a_cluster_that_does_not_answer_is_a_warning() {
        let kubectl = Recorded::new(vec![Exchange {
            answer: Answer {
                code: 1,
                stdout: UNREACHABLE.into(),
                stderr: "The connection to the server 10.0.0.11:6443 was refused - did you specify the right host or port?\n".into(),
            },
            ..Exchange::new("version -o json", "")
        }]);
        let Verdict::NoAnswer(warning) = check(&kubectl).unwrap() else {
            panic!("an answer");
        };
        kubectl.assert_done();
        assert!(warning.contains("v1.32.4-dispatcher"), "{warning}");
        assert!(warning.contains("10.0.0.11:6443 was refused"), "{warning}");
    }

    #[test]
    fn managed_clusters_minor_versions_end_in_a_plus() {
        let (client, server) = parse_versions(UNREACHABLE).unwrap();
        assert_eq!(client, version(32, "v1.32.4-dispatcher"));
        assert_eq!(server, None);
        let err = parse_versions("error: unknown flag -o").unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }

    #[test]
    fn the_release_for_a_cluster_is_its_own_patch_release() {
        assert_eq!(cluster_release(&version(31, "v1.31.4+k3s1")), "v1.31.4");
        assert_eq!(
            cluster_release(&version(30, "v1.30.2-eks-1552ad0")),
            "v1.30.2"
        );
        assert_eq!(cluster_release(&version(32, "v1.32.4")), "v1.32.4");
        // Anything else that could change the URL it goes into.
        assert_eq!(cluster_release(&version(29, "v1.29.1/../../x")), "v1.29.0");
        assert_eq!(cluster_release(&version(29, "")), "v1.29.0");
        for bad in [
            "1.31.4",
            "v1.31",
            "v1.31.4.5",
            "v1..4",
            "v1.31.4\n",
            "v1.31.x",
        ] {
            assert_eq!(parse_release(bad), None, "{bad:?}");
        }
    }
}
