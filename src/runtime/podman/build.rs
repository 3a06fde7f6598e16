//! The build container: the build stack image running the buildpack driver
//! over directories of the host, as the paas user's uid, within a time
//! limit. Its name and labels are made here, and found again by
//! `remove_build_containers`.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use super::{backstop_flag, command, init_volume, random_suffix, run, Deadline, UNDER_INIT};
use crate::error::{Context, Result};
use crate::state::AppName;

/// One build's container.
pub struct BuildContainer<'a> {
    pub install_id: &'a str,
    pub app: &'a AppName,
    pub image: &'a str,
    /// Host directory or file, where it appears in the container, read-only.
    pub mounts: Vec<(PathBuf, &'static str, bool)>,
    pub env: Vec<(&'static str, String)>,
    /// What runs under the container's init.
    pub command: Vec<String>,
    pub limit: Duration,
}

/// How a build container ended.
pub struct BuildEnd {
    pub status: ExitStatus,
    /// Stopped at its time limit (one that succeeded just as its time ran
    /// out is not).
    pub timed_out: bool,
}

impl BuildContainer<'_> {
    /// Runs it to its end, its output (stdout and stderr both) on this
    /// process's stderr: the user's `git push` output. The container's name
    /// is its `REQUEST_ID`, as on Heroku.
    pub fn run(self) -> Result<BuildEnd> {
        let name = format!(
            "paas-{}-{}-build-{}",
            self.install_id,
            self.app,
            random_suffix()
        );
        let mut podman = command();
        podman.args(["run", "--rm", "--userns=keep-id", "--name", &name]);
        podman.arg(backstop_flag(self.limit));
        podman.arg(init_volume());
        podman.arg(format!("--label=paas.install={}", self.install_id));
        podman.arg(format!("--label=paas.build={}", self.app));
        for (host, inside, read_only) in &self.mounts {
            let mode = if *read_only { ":ro" } else { "" };
            podman.arg(format!("--volume={}:{inside}{mode}", host.display()));
        }
        for (key, value) in &self.env {
            podman.arg(format!("--env={key}={value}"));
        }
        podman.arg(format!("--env=REQUEST_ID={name}"));
        podman.arg(self.image);
        podman.args(UNDER_INIT);
        podman.args(&self.command);
        podman.stdin(Stdio::null());
        podman.stdout(std::io::stderr());
        let mut child = podman
            .spawn()
            .context(|| "running the build container".into())?;
        let deadline = Deadline::start(&name, self.limit);
        let status = child
            .wait()
            .context(|| "waiting for the build container".into())?;
        let timed_out = deadline.passed() && !status.success();
        Ok(BuildEnd { status, timed_out })
    }
}

/// Removes the build containers of `app` left running by a paas process
/// that ended before them. Called under the app lock, so no build runs.
pub fn remove_build_containers(install_id: &str, app: &str) {
    let install = format!("label=paas.install={install_id}");
    let build = format!("label=paas.build={app}");
    let Ok(ids) = run(&[
        "ps", "--all", "--quiet", "--filter", &install, "--filter", &build,
    ]) else {
        return;
    };
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut remove = vec!["rm", "--force", "--time", "0"];
        remove.extend(&ids);
        let _ = run(&remove);
    }
}
