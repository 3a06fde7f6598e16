//! Builds: the pushed tree is compiled by buildpacks (Heroku's classic API:
//! `bin/detect`, `bin/compile BUILD CACHE ENV`, `bin/release`) inside a
//! rootless container from the build stack image, as the paas user's uid.

pub mod history;
mod shipped;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::error::{Context, Error, Result};
use crate::runtime::podman;
use crate::state::{self, AppDir, Settings};

pub use shipped::SHIPPED;

/// Runs detect, compile and release inside the build container.
const DRIVER: &str = include_str!("driver.sh");

/// Where the CA bundle is on the host: builds reach package registries through it.
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Writes the shipped buildpacks under `dir` (the installer calls this).
pub fn install_shipped(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (name, files) in SHIPPED {
        for (path, text) in *files {
            let target = dir.join(name).join(path);
            fs::create_dir_all(target.parent().expect("has a parent"))
                .context(|| format!("creating `{}`", target.display()))?;
            state::write_atomic(&target, text.as_bytes(), 0o755)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
                .context(|| format!("making `{}` executable", target.display()))?;
        }
    }
    Ok(())
}

/// What a successful build produced.
pub struct BuildOutput {
    /// Process types from the last buildpack's `bin/release`.
    pub default_processes: BTreeMap<String, String>,
}

pub struct BuildRequest<'a> {
    pub settings: &'a Settings,
    pub buildpacks_dir: &'a Path,
    pub app: &'a AppDir,
    /// The exported source; compiled in place, it becomes the slug.
    pub build_dir: &'a Path,
    pub commit: &'a str,
    pub config: &'a BTreeMap<String, String>,
}

/// Runs the buildpacks over `build_dir`, streaming their output to stderr.
pub fn run(request: &BuildRequest) -> Result<BuildOutput> {
    let app = request.app;
    let cache = app.cache_dir();
    state::create_dir(&cache, 0o700)?;
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(app.builds_dir())
        .context(|| "creating the build's work directory".into())?;
    let env_dir = work.path().join("env");
    let out_dir = work.path().join("out");
    state::create_dir(&env_dir, 0o700)?;
    state::create_dir(&out_dir, 0o700)?;
    for (key, value) in request.config {
        state::write_atomic(&env_dir.join(key), value.as_bytes(), 0o600)?;
    }
    let order: Vec<String> = SHIPPED
        .iter()
        .map(|(name, _)| format!("/buildpacks/{name}"))
        .collect();

    let container = format!(
        "paas-{}-{}-build-{}",
        request.settings.install_id,
        app.name,
        podman::random_suffix()
    );
    let mut command = podman::command();
    command.args(["run", "--rm", "--userns=keep-id", "--name", &container]);
    command.arg(format!(
        "--label=paas.install={}",
        request.settings.install_id
    ));
    command.arg(format!("--label=paas.build={}", app.name));
    command.arg(format!("--volume={}:/app", request.build_dir.display()));
    command.arg(format!("--volume={}:/cache", cache.display()));
    command.arg(format!("--volume={}:/env:ro", env_dir.display()));
    command.arg(format!("--volume={}:/out", out_dir.display()));
    command.arg(format!(
        "--volume={}:/buildpacks:ro",
        request.buildpacks_dir.display()
    ));
    if Path::new(CA_BUNDLE).exists() {
        command.arg(format!("--volume={CA_BUNDLE}:{CA_BUNDLE}:ro"));
    }
    for (key, value) in [
        ("HOME", "/app"),
        ("STACK", "paas-bookworm"),
        ("SOURCE_VERSION", request.commit),
        ("REQUEST_ID", &container),
        ("SSL_CERT_FILE", CA_BUNDLE),
        ("PIP_CERT", CA_BUNDLE),
        ("NODE_EXTRA_CA_CERTS", CA_BUNDLE),
    ] {
        command.arg(format!("--env={key}={value}"));
    }
    command.arg(&request.settings.build_image);
    command.args(["bash", "-c", DRIVER, "driver"]);
    command.args(&order);
    command.stdin(Stdio::null());
    // The build's output is the user's `git push` output: stdout and stderr both go to stderr.
    command.stdout(std::io::stderr());
    let status = command
        .status()
        .context(|| "running the build container".into())?;
    if !status.success() {
        let message = match status.code() {
            Some(3) => "no buildpack could build this app",
            _ => "the build failed",
        };
        return Err(Error::new(message).hint(
            "the build output above says what went wrong; the running release is untouched",
        ));
    }
    let release_yaml =
        state::read_untrusted(&out_dir.join("release.yml"), 64 * 1024)?.unwrap_or_default();
    Ok(BuildOutput {
        default_processes: parse_default_process_types(&release_yaml),
    })
}

/// Reads `default_process_types` from `bin/release` output. Only that map is
/// read, so a full YAML parser is not needed: `key: command` lines indented
/// under it.
pub fn parse_default_process_types(yaml: &str) -> BTreeMap<String, String> {
    let mut processes = BTreeMap::new();
    let mut inside = false;
    for line in yaml.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        if !indented {
            inside = line.trim_end() == "default_process_types:";
            continue;
        }
        if inside {
            if let Some((name, command)) = line.trim().split_once(':') {
                let command = command.trim();
                let command = command
                    .strip_prefix('"')
                    .and_then(|c| c.strip_suffix('"'))
                    .or_else(|| {
                        command
                            .strip_prefix('\'')
                            .and_then(|c| c.strip_suffix('\''))
                    })
                    .unwrap_or(command);
                if !command.is_empty() {
                    processes.insert(name.trim().to_string(), command.to_string());
                }
            }
        }
    }
    processes
}

/// Removes what an interrupted build left in the app's builds dir (its
/// source, and env files holding config vars). Called under the app lock,
/// so no build is running.
pub fn sweep_leftovers(app: &AppDir) {
    let Ok(entries) = fs::read_dir(app.builds_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let _ = fs::remove_dir_all(entry.path());
    }
}

/// A fresh, empty directory for one build's source under the app's builds dir.
pub fn new_build_dir(app: &AppDir) -> Result<PathBuf> {
    state::create_dir(&app.builds_dir(), 0o700)?;
    let dir = tempfile::Builder::new()
        .prefix("src-")
        .tempdir_in(app.builds_dir())
        .context(|| "creating a build directory".into())?;
    Ok(dir.keep())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_default_process_types() {
        let yaml = "---\naddons: []\ndefault_process_types:\n  web: gunicorn app:app\n  worker: \"python w.py\"\nconfig_vars:\n  A: b\n";
        let processes = parse_default_process_types(yaml);
        assert_eq!(processes.len(), 2);
        assert_eq!(processes["web"], "gunicorn app:app");
        assert_eq!(processes["worker"], "python w.py");
        assert!(parse_default_process_types("--- {}\n").is_empty());
    }
}
