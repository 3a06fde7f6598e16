//! An app's own images (#22): built from its Dockerfile by `podman build`,
//! or deployed as they are; named after the install and the app, and read
//! back for what they run. `images.rs` removes those no release needs.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;

use super::{command, run, runtime_dir, BuildEnd};
use crate::error::{Context, Error, Result};
use crate::state::AppName;

/// Where an install's app images are named: `localhost/paas-<install>/`.
/// Another install on the machine (they share the user's image store)
/// names its own apart, so neither prunes the other's.
pub fn install_prefix(install_id: &str) -> String {
    format!("localhost/paas-{install_id}/")
}

/// How `app`'s image names start: `localhost/paas-<install>/<app>:`.
pub fn own_prefix(install_id: &str, app: &AppName) -> String {
    format!("{}{app}:", install_prefix(install_id))
}

/// A new name for the image release `version` of `app` runs:
/// `localhost/paas-<install>/<app>:v<N>-<12 random hex digits>`. A name
/// keeps the image from being taken for a dangling one, and says whose it
/// is; the release records its id. The random part is what no other app
/// can guess: every build's `FROM` and `COPY --from` read the same store,
/// and would read this app's code by a name they could write down.
pub fn app_image_name(install_id: &str, app: &AppName, version: u32) -> String {
    let secret: String = crate::state::random_bytes::<6>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{}{app}:v{version}-{secret}", install_prefix(install_id))
}

/// One `podman build` of an app's tree.
pub struct ImageBuild<'a> {
    /// The exported tree: the build's context, with its `Dockerfile`.
    pub context: &'a Path,
    /// What to tag the image (`app_image_name`).
    pub name: &'a str,
    pub limit: Duration,
    /// The build's `TMPDIR`, the app's own: buildah keeps
    /// `RUN --mount=type=cache` directories there.
    pub scratch: &'a Path,
}

impl ImageBuild<'_> {
    /// Runs it to its end, its output on this process's stderr (the
    /// user's `git push` output). Podman's layer cache is the user's: a
    /// step whose inputs did not change says `Using cache`. The steps have
    /// the network, as buildpacks' builds do, to fetch what they install.
    /// `.dockerignore` is podman's to read.
    pub fn run(self) -> Result<BuildEnd> {
        // Under `timeout`, a backstop that stops it a minute after its
        // limit even if this process (which stops it at the limit) is gone,
        // as conmon's `--timeout` does a buildpack build's container. In a
        // process group of its own, which `timeout` kills.
        let backstop = self.limit.as_secs().saturating_add(60);
        let mut build = Command::new("timeout");
        build
            .current_dir("/")
            .env("XDG_RUNTIME_DIR", runtime_dir())
            .env("TMPDIR", self.scratch)
            .args(["--kill-after=10", &format!("{backstop}s"), "podman"])
            .args(["build", "--layers", "--force-rm", "--tag", self.name])
            .arg("--file")
            .arg(self.context.join("Dockerfile"))
            .arg(self.context)
            .stdin(Stdio::null())
            .stdout(std::io::stderr())
            .process_group(0);
        let mut child = build.spawn().context(|| "running `podman build`".into())?;
        let leader = child.id() as i32;
        let (cancel, cancelled) = mpsc::channel::<()>();
        let limit = self.limit;
        let ended = move |wait: Duration| {
            cancelled.recv_timeout(wait) != Err(mpsc::RecvTimeoutError::Timeout)
        };
        let watcher = std::thread::spawn(move || {
            if ended(limit) {
                return false;
            }
            // The step's processes go first: podman then fails the step and
            // removes its containers (`--force-rm`), which a signal to
            // podman would leave in its store, with the step's process
            // still running. A step that runs nothing (a COPY, a pull)
            // ends with podman.
            for _ in 0..10 {
                for pid in steps_of(leader) {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                if ended(Duration::from_secs(1)) {
                    return true;
                }
            }
            unsafe { libc::kill(-leader, libc::SIGKILL) };
            true
        });
        let status = child.wait().context(|| "waiting for `podman build`".into());
        drop(cancel);
        let timed_out = watcher.join().unwrap_or(false);
        Ok(BuildEnd {
            status: status?,
            timed_out,
        })
    }
}

/// The processes a build's steps run: those under podman, itself under
/// `leader` (`timeout`), from `/proc`.
fn steps_of(leader: i32) -> Vec<i32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(parent) = parent_in_stat(&stat) {
            parents.push((child, parent));
        }
    }
    let podman: Vec<i32> = parents
        .iter()
        .filter(|(_, parent)| *parent == leader)
        .map(|(child, _)| *child)
        .collect();
    podman
        .into_iter()
        .flat_map(|pid| tree_under(pid, &parents))
        .collect()
}

/// The processes under `pid`, given each process's parent.
fn tree_under(pid: i32, parents: &[(i32, i32)]) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for &(child, parent) in parents {
        children.entry(parent).or_default().push(child);
    }
    let mut found = Vec::new();
    let mut pending = vec![pid];
    while let Some(parent) = pending.pop() {
        for &child in children.get(&parent).into_iter().flatten() {
            found.push(child);
            pending.push(child);
        }
    }
    found
}

/// The parent's pid in a `/proc/PID/stat` line: the second field after the
/// command's name, which may hold spaces and parentheses.
fn parent_in_stat(stat: &str) -> Option<i32> {
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What paas needs to know of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// `sha256:<hex>`.
    pub id: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    id: String,
    #[serde(default)]
    config: InspectedConfig,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct InspectedConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
}

/// The image `reference` names in the local store, if there is one.
pub fn inspect(reference: &str) -> Result<Option<ImageInfo>> {
    let exists = command()
        .args(["image", "exists", reference])
        .stdin(Stdio::null())
        .status()
        .context(|| "running `podman image exists`".into())?;
    if !exists.success() {
        return Ok(None);
    }
    let output = run(&["image", "inspect", "--format", "json", reference])?;
    parse_inspect(&output).map(Some)
}

fn parse_inspect(json: &str) -> Result<ImageInfo> {
    let listed: Vec<Inspected> =
        serde_json::from_str(json).context(|| "reading `podman image inspect` output".into())?;
    let image = listed
        .into_iter()
        .next()
        .ok_or_else(|| Error::unexpected("`podman image inspect` listed no image"))?;
    let id = match image.id.strip_prefix("sha256:") {
        Some(_) => image.id,
        None => format!("sha256:{}", image.id),
    };
    Ok(ImageInfo {
        id,
        entrypoint: image.config.entrypoint.unwrap_or_default(),
        cmd: image.config.cmd.unwrap_or_default(),
    })
}

/// The id and names of the image `reference` resolves to in the store, as
/// a build's `FROM` would find it (by name, digest or id), or `None` when
/// the store has none. A podman that fails otherwise is an error, never
/// taken for "none" (`dockerfile_refs::check` lets an absent image pass,
/// for the build to pull).
pub fn names_of(reference: &str) -> Result<Option<(String, Vec<String>)>> {
    #[derive(Deserialize)]
    struct Named {
        #[serde(rename = "Id")]
        id: String,
        #[serde(rename = "RepoTags", default)]
        names: Option<Vec<String>>,
    }
    let exists = command()
        .args(["image", "exists", "--", reference])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context(|| "running `podman image exists`".into())?;
    match exists.code() {
        Some(0) => {}
        Some(1) => return Ok(None),
        _ => {
            return Err(Error::unexpected(format!(
                "`podman image exists {reference}` failed ({exists})"
            )))
        }
    }
    let output = run(&["image", "inspect", "--format", "json", "--", reference])?;
    let listed: Vec<Named> =
        serde_json::from_str(&output).context(|| "reading `podman image inspect` output".into())?;
    let image = listed
        .into_iter()
        .next()
        .ok_or_else(|| Error::unexpected("`podman image inspect` listed no image"))?;
    Ok(Some((image.id, image.names.unwrap_or_default())))
}

/// The ONBUILD triggers of the image `id`, read from its configuration in
/// podman's store: `podman image inspect` does not show them. Its
/// configuration is a file of the image's directory named `=` and the
/// base64 of `sha256:<id>` (an image's id is its configuration's digest),
/// as containers/storage keeps it.
pub fn onbuild_triggers(id: &str) -> Result<Vec<String>> {
    use base64::Engine;
    #[derive(Deserialize, Default)]
    struct Config {
        #[serde(rename = "OnBuild", default)]
        onbuild: Option<Vec<String>>,
    }
    #[derive(Deserialize)]
    struct ImageConfig {
        #[serde(default)]
        config: Option<Config>,
    }
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    let store = run(&[
        "info",
        "--format",
        "{{.Store.GraphRoot}}\n{{.Store.GraphDriverName}}",
    ])?;
    let mut lines = store.lines();
    let (root, driver) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    let key = base64::engine::general_purpose::STANDARD.encode(format!("sha256:{hex}"));
    let file = Path::new(root)
        .join(format!("{driver}-images"))
        .join(hex)
        .join(format!("={key}"));
    let text = std::fs::read_to_string(&file).map_err(|err| {
        Error::unexpected(format!(
            "cannot read the configuration of image {hex} at `{}` to check its ONBUILD triggers",
            file.display()
        ))
        .cause(err)
    })?;
    let config: ImageConfig = serde_json::from_str(&text)
        .context(|| format!("reading the configuration of image {hex}"))?;
    Ok(config
        .config
        .unwrap_or_default()
        .onbuild
        .unwrap_or_default())
}

/// Pulls `reference` from wherever podman is set to pull, its progress on
/// stderr.
pub fn pull(reference: &str) -> Result<()> {
    let status = command()
        .args(["pull", reference])
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .context(|| "running `podman pull`".into())?;
    if !status.success() {
        return Err(Error::new(format!("`podman pull {reference}` failed"))
            .hint("its output above says why; check the name, or load the image into the server's store first"));
    }
    Ok(())
}

/// Names the image `id` also `name` (moving the name from another image).
pub fn tag(id: &str, name: &str) -> Result<()> {
    run(&["tag", id, name]).map(drop)
}

/// Takes the name `name` off the image `id` (the image stays while it
/// has another).
pub fn untag(id: &str, name: &str) -> Result<()> {
    run(&["untag", id, name]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_images_are_named_by_install_app_and_release() {
        let app = AppName::parse("shop").unwrap();
        let name = app_image_name("ab12", &app, 7);
        let secret = name.strip_prefix("localhost/paas-ab12/shop:v7-").unwrap();
        assert_eq!(secret.len(), 12);
        assert!(secret.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        assert_ne!(name, app_image_name("ab12", &app, 7), "never guessed");
        assert!(name.starts_with(&install_prefix("ab12")));
    }

    #[test]
    fn process_trees_are_read_from_proc() {
        assert_eq!(parent_in_stat("17 (a) b) c) S 12 17 17 0"), Some(12));
        assert_eq!(parent_in_stat("garbage"), None);
        // podman 10: its runtime 11, the step 12 under it, and 13 elsewhere.
        let parents = [(11, 10), (12, 11), (13, 1), (10, 2)];
        let mut under = tree_under(10, &parents);
        under.sort();
        assert_eq!(under, [11, 12]);
        // This process is under its parent's parent, as read from /proc.
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let parent = parent_in_stat(&stat).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{parent}/stat")).unwrap();
        let grandparent = parent_in_stat(&stat).unwrap();
        assert!(steps_of(grandparent).contains(&(std::process::id() as i32)));
    }

    #[test]
    fn inspect_reads_the_id_and_what_the_image_runs() {
        let json = r#"[{"Id": "7d48dc27eeeb", "Digest": "sha256:5dac",
            "Config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/busybox", "httpd"]}}]"#;
        assert_eq!(
            parse_inspect(json).unwrap(),
            ImageInfo {
                id: "sha256:7d48dc27eeeb".into(),
                entrypoint: vec![],
                cmd: vec!["/bin/busybox".into(), "httpd".into()],
            }
        );
        let bare = r#"[{"Id": "sha256:00ff", "Config": {"Entrypoint": ["/e"], "Cmd": null}}]"#;
        let info = parse_inspect(bare).unwrap();
        assert_eq!(
            (info.id.as_str(), info.entrypoint.len()),
            ("sha256:00ff", 1)
        );
        assert!(parse_inspect("[]").is_err());
    }
}
