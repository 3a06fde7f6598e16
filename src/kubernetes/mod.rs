//! Releases on Kubernetes (#24): an app that outgrows this machine runs
//! on a cluster (k3s on a few VPSes, or a managed one), fed from the same
//! release ledger. A release becomes an OCI image pushed to a registry
//! (`runtime::podman::release_image`), and Kubernetes objects
//! (`manifests`) that kubectl applies (`kubectl`, `scheduler`). The
//! server's registry and cluster are recorded once (`settings`); each app
//! picks its scheduler (`apps:scheduler`), and apps on podman are
//! untouched.

pub mod follow;
pub mod kubectl;
pub mod kubectl_download;
pub mod logs;
pub mod manifests;
pub mod pods;
pub mod release_phase;
pub mod scheduler;
pub mod secrets;
pub mod settings;
pub mod version;
pub mod workflows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::converge::Platform;
use crate::error::{Context, Error, Result};
use crate::release::{Ledger, Release, ReleaseVersion};
use crate::runtime::podman::app_images::app_image_name;
use crate::runtime::podman::release_image::{self, Pushed, SlugImage};
use crate::state::{self, AppDir, Root, Scheduler};
use kubectl::Kubectl;
pub use kubectl_download::KubectlFor;
use manifests::{ImageKind, Inputs};
pub use settings::{parse_registry, Cluster, PushedImages};

/// What `kubernetes:connect` is given.
pub struct Connect {
    pub registry: String,
    pub insecure_registry: bool,
    /// The kubeconfig's text (read from a file on the server or stdin).
    pub kubeconfig: Option<String>,
    pub namespace_prefix: Option<String>,
    pub cluster_issuer: Option<String>,
    /// Where kubectl is downloaded from (`kubectl_download`), if not
    /// `https://dl.k8s.io`.
    pub kubectl_mirror: Option<String>,
}

/// Where the server keeps its copy of the cluster's kubeconfig: the
/// `paas` user's to read, nobody else's.
fn kubeconfig_file(root: &Root) -> PathBuf {
    root.path.join("kubernetes-kubeconfig.yaml")
}

/// The real kubectl for a kubeconfig file, if one is here
/// (`kubectl::find`, with this process's PATH).
pub fn real_kubectl(root: &Root) -> impl Fn(&Path) -> Option<Box<dyn Kubectl>> + '_ {
    move |kubeconfig| {
        let program = kubectl::find(root, std::env::var_os("PATH").as_deref())?;
        Some(Box::new(kubectl::Real {
            program,
            kubeconfig: kubeconfig.to_path_buf(),
        }) as Box<dyn Kubectl>)
    }
}

/// Records the registry (and the cluster) for the whole server. A
/// cluster's kubeconfig is kept only once kubectl's version suits the
/// cluster's (`version`), paas installing the cluster's kubectl if it must
/// (`kubectl_download`); the one kept before is checked again, as kubectl
/// or the cluster may have changed since.
pub fn connect(root: &Root, connect: Connect, kubectl_for: KubectlFor) -> Result<Cluster> {
    let registry = parse_registry(&connect.registry)?;
    let previous = Cluster::load(root)?;
    let kubectl_mirror = match connect.kubectl_mirror {
        Some(mirror) => Some(kubectl_download::parse_mirror(&mirror)?),
        None => previous.as_ref().and_then(|c| c.kubectl_mirror.clone()),
    };
    let mirror = kubectl_mirror
        .as_deref()
        .unwrap_or(kubectl_download::DEFAULT_MIRROR);
    let check_kubectl =
        |kubeconfig: &Path| kubectl_download::ensure(root, mirror, kubeconfig, kubectl_for);
    let namespace_prefix = match connect.namespace_prefix {
        Some(prefix) => parse_namespace_prefix(&prefix)?,
        None => previous.as_ref().map_or_else(
            || settings::DEFAULT_NAMESPACE_PREFIX.into(),
            |c| c.namespace_prefix.clone(),
        ),
    };
    let kubeconfig = match connect.kubeconfig {
        Some(text) => {
            let parsed: serde_yaml::Value = serde_yaml::from_str(&text)
                .map_err(|err| Error::new("the kubeconfig is not YAML").cause(err.to_string()))?;
            if parsed.get("clusters").is_none() {
                return Err(Error::new("the kubeconfig names no `clusters`")
                    .hint("give the file `kubectl config view --raw` prints on a machine that reaches the cluster"));
            }
            // Tried beside the one in use, which stays until this passes.
            let file = kubeconfig_file(root);
            let trial = file.with_extension("yaml.new");
            state::write_atomic(&trial, text.as_bytes(), 0o600)?;
            if let Err(err) = check_kubectl(&trial) {
                let _ = std::fs::remove_file(&trial);
                return Err(err);
            }
            std::fs::rename(&trial, &file).context(|| format!("renaming `{}`", trial.display()))?;
            Some(file)
        }
        None => match previous.as_ref().and_then(|c| c.kubeconfig.clone()) {
            Some(file) => {
                check_kubectl(&file)?;
                Some(file)
            }
            None => None,
        },
    };
    let cluster = Cluster {
        registry,
        insecure_registry: connect.insecure_registry,
        kubeconfig,
        namespace_prefix,
        cluster_issuer: connect
            .cluster_issuer
            .or_else(|| previous.map(|c| c.cluster_issuer))
            .unwrap_or_else(|| settings::DEFAULT_CLUSTER_ISSUER.into()),
        kubectl_mirror,
    };
    cluster.save(root)?;
    Ok(cluster)
}

/// A namespace prefix: what namespaces start with, so it must make DNS
/// labels with an app's name.
fn parse_namespace_prefix(prefix: &str) -> Result<String> {
    let ok = prefix.len() <= 20
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !prefix.starts_with('-');
    if ok {
        Ok(prefix.to_string())
    } else {
        Err(Error::new(format!("`{prefix}` is not a namespace prefix"))
            .hint("use up to 20 lowercase letters, digits and `-`, such as `paas-`"))
    }
}

/// Moves an app to `scheduler`. To Kubernetes, the server must know a
/// cluster, and the current release is rolled out there first; the
/// daemon then stops the app's dynos here (and starts them again when it
/// comes back to podman, leaving its objects on the cluster).
pub fn set_scheduler(platform: &Platform, app: &AppDir, scheduler: Scheduler) -> Result<()> {
    let _lock = app.lock()?;
    let settings = app.settings()?;
    if scheduler == settings.scheduler {
        return Ok(());
    }
    if scheduler == Scheduler::Kubernetes {
        Cluster::require(platform.root)?.require_kubeconfig()?;
        if let Some(release) = Ledger::new(app).current()?.filter(Release::is_built) {
            // Its release phase runs on the cluster too: the release's
            // command may set up what the cluster needs.
            let deployed = workflows::roll_out(
                platform,
                app,
                &release,
                &settings.formation,
                workflows::ReleasePhase::Run,
            )?;
            if let scheduler::Deployed::ReleasePhaseFailed(failure) = deployed {
                // The release ran here; it stays here, unrecorded again.
                return Err(Error::new(format!(
                    "v{}: the {} on the cluster",
                    release.version, failure.why
                ))
                .hint(format!(
                    "its output is above; `{}` stays on podman. Fix what the release command needs on the cluster and try again",
                    app.name
                )));
            }
        }
    }
    app.update_settings(|s| s.scheduler = scheduler)?;
    Ok(())
}

/// The release `version` names, or the current one.
fn release_of(app: &AppDir, version: Option<ReleaseVersion>) -> Result<Release> {
    let release = match version {
        Some(version) => Ledger::new(app).get(version)?,
        None => Ledger::new(app).current()?.ok_or_else(|| {
            Error::new(format!("`{}` has no release yet", app.name))
                .hint("`git push` the app first")
        })?,
    };
    if !release.is_built() {
        return Err(Error::new(format!(
            "v{} has no build to make an image of",
            release.version
        ))
        .hint("`git push` the app first"));
    }
    Ok(release)
}

/// `kubernetes:push`: release `version` (the current one by default) as
/// an image in the server's registry, built from its slug if it has one.
/// Takes the app's lock.
pub fn push(platform: &Platform, app: &AppDir, version: Option<ReleaseVersion>) -> Result<Pushed> {
    let cluster = Cluster::require(platform.root)?;
    let _lock = app.lock()?;
    let release = release_of(app, version)?;
    push_release(platform, &cluster, app, &release)
}

/// Builds (for a slug) and pushes one release's image, and records it.
/// The caller holds the app's lock.
pub fn push_release(
    platform: &Platform,
    cluster: &Cluster,
    app: &AppDir,
    release: &Release,
) -> Result<Pushed> {
    let tag = cluster.tag(&app.name, release.version);
    let local = match (&release.image, &release.slug) {
        (Some(image), _) => image.id.clone(),
        (None, Some(slug)) => {
            say!("-----> Building the image of v{}", release.version);
            let slug_dir = platform.unpacked_slug(app, slug)?;
            let name = app_image_name(&platform.settings.install_id, &app.name, release.version);
            SlugImage {
                slug_dir: &slug_dir,
                work_dir: &app.path,
                run_image: &platform.settings.run_image,
                app: app.name.as_str(),
                version: release.version,
                processes: &release.processes,
                name: &name,
                limit: platform.settings.build_timeout(),
            }
            .build()?
        }
        (None, None) => return Err(Error::new(format!("v{} has no build", release.version))),
    };
    say!("-----> Pushing {tag}");
    let pushed = release_image::push(&local, &tag, !cluster.insecure_registry)?;
    PushedImages::record(app, release.version, &pushed.reference())?;
    Ok(pushed)
}

/// `kubernetes:manifests`: the objects release `version` (the current
/// one by default) is applied as, in YAML, and whether its image is in
/// the registry yet (else the manifests name it by tag).
pub fn manifests_yaml(
    platform: &Platform,
    app: &AppDir,
    version: Option<ReleaseVersion>,
) -> Result<(String, bool)> {
    let cluster = Cluster::require(platform.root)?;
    let release = release_of(app, version)?;
    let pushed = PushedImages::load(app)?;
    let image = pushed
        .get(release.version, &cluster.registry)
        .map(String::from);
    let is_pushed = image.is_some();
    let image = image.unwrap_or_else(|| cluster.tag(&app.name, release.version));
    let objects = objects(platform, &cluster, app, &release, &image, None)?;
    Ok((manifests::to_yaml(&objects)?, is_pushed))
}

/// The objects of `release`, running `image`, with `formation` (the
/// app's own if `None`).
fn objects(
    platform: &Platform,
    cluster: &Cluster,
    app: &AppDir,
    release: &Release,
    image: &str,
    formation: Option<&BTreeMap<String, u32>>,
) -> Result<Vec<serde_json::Value>> {
    let mut settings = app.settings()?;
    if let Some(formation) = formation {
        settings.formation = formation.clone();
    }
    let app_json = platform.app_json(app, release)?;
    let checks = crate::checks::parse(app_json.as_deref())?;
    let cron = crate::cron::entries(app_json.as_deref())?;
    let default_host = format!("{}.{}", app.name, platform.settings.domain);
    let hosts: Vec<String> = std::iter::once(default_host)
        .chain(settings.domains.iter().cloned())
        .collect();
    let namespace = cluster.namespace(&app.name);
    manifests::manifests(&Inputs {
        app: &app.name,
        namespace: &namespace,
        release,
        image,
        kind: if release.image.is_some() {
            ImageKind::Own
        } else {
            ImageKind::Slug
        },
        settings: &settings,
        hosts,
        cluster_issuer: settings
            .certs_auto
            .then_some(cluster.cluster_issuer.as_str()),
        checks: &checks,
        cron: &cron,
        release_timeout_secs: platform.settings.release_timeout().as_secs(),
    })
}

/// Reads a kubeconfig named on the command line: a file on the server,
/// or `-` for stdin (over SSH, where server paths are not the caller's).
pub fn read_kubeconfig(path: &str, over_ssh: bool) -> Result<String> {
    use std::io::Read;
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(1024 * 1024)
            .read_to_string(&mut text)
            .context(|| "reading the kubeconfig from stdin".into())?;
        return Ok(text);
    }
    if over_ssh {
        return Err(Error::new("a kubeconfig path names a file on the server")
            .hint("send it through stdin: `paas kubernetes:connect --kubeconfig - … < kubeconfig.yaml`"));
    }
    state::read_untrusted(std::path::Path::new(path), 1024 * 1024)?
        .ok_or_else(|| Error::new(format!("`{path}` does not exist")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_prefixes_make_dns_labels() {
        assert_eq!(parse_namespace_prefix("team-").unwrap(), "team-");
        assert_eq!(parse_namespace_prefix("").unwrap(), "");
        for bad in ["Team", "a_b", "-x", "abcdefghijklmnopqrstu"] {
            let err = parse_namespace_prefix(bad).unwrap_err();
            assert!(
                err.to_string().contains("is not a namespace prefix"),
                "{err}"
            );
        }
    }

    /// kubectl answering `version -o json` with client `client` and
    /// server 1.31, once.
    fn kubectl_of_minor(client: u32) -> impl Fn(&Path) -> Option<Box<dyn Kubectl>> {
        move |_| {
            let json = format!(
                r#"{{"clientVersion": {{"major": "1", "minor": "{client}", "gitVersion": "v1.{client}.2"}},
                    "serverVersion": {{"major": "1", "minor": "31", "gitVersion": "v1.31.4+k3s1"}}}}"#
            );
            Some(Box::new(kubectl::Recorded::new(vec![
                kubectl::Exchange::new("version -o json", &json),
            ])))
        }
    }

    #[test]
    fn a_kubeconfig_must_name_clusters() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let connect = |kubeconfig: &str| Connect {
            registry: "127.0.0.1:5000".into(),
            insecure_registry: true,
            kubeconfig: Some(kubeconfig.into()),
            namespace_prefix: None,
            cluster_issuer: None,
            // Nothing listens there: nothing is downloaded.
            kubectl_mirror: Some("http://127.0.0.1:9".into()),
        };
        let fine = kubectl_of_minor(31);
        let err = super::connect(&root, connect("users: []\n"), &fine).unwrap_err();
        assert!(err.to_string().contains("names no `clusters`"), "{err}");
        let cluster = super::connect(&root, connect("clusters: []\n"), &fine).unwrap();
        assert_eq!(cluster.namespace_prefix, "paas-");
        assert_eq!(Cluster::load(&root).unwrap(), Some(cluster.clone()));
        // A second connect keeps what it is not given.
        let again = super::connect(
            &root,
            Connect {
                kubeconfig: None,
                ..connect("")
            },
            &fine,
        )
        .unwrap();
        assert_eq!(again.kubeconfig, cluster.kubeconfig);
    }

    #[test]
    fn a_kubectl_too_old_for_the_cluster_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let connect = |kubeconfig: Option<&str>| Connect {
            registry: "127.0.0.1:5000".into(),
            insecure_registry: true,
            kubeconfig: kubeconfig.map(String::from),
            namespace_prefix: None,
            cluster_issuer: None,
            // Nothing listens there: nothing is downloaded.
            kubectl_mirror: Some("http://127.0.0.1:9".into()),
        };
        let cluster = super::connect(
            &root,
            connect(Some("clusters: [first]\n")),
            &kubectl_of_minor(32),
        )
        .unwrap();
        let err = super::connect(
            &root,
            connect(Some("clusters: [second]\n")),
            &kubectl_of_minor(20),
        )
        .unwrap_err();
        // paas tried to install the cluster's kubectl, from a mirror
        // where nothing listens.
        assert_eq!(
            err.to_string(),
            "could not download the checksum of kubectl v1.31.4"
        );
        // The kubeconfig in use and the settings are as they were.
        let kept = kubeconfig_file(&root);
        assert_eq!(
            std::fs::read_to_string(&kept).unwrap(),
            "clusters: [first]\n"
        );
        assert!(!kept.with_extension("yaml.new").exists());
        assert_eq!(Cluster::load(&root).unwrap(), Some(cluster));
        // Connecting again checks the kubectl of now against the cluster.
        let err = super::connect(&root, connect(None), &kubectl_of_minor(20)).unwrap_err();
        assert!(err.to_string().contains("kubectl v1.31.4"), "{err}");
        assert!(!kubectl::installed(&root).exists());
    }
}
