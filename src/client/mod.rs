//! The laptop side. A `paas` with no install at its root forwards each
//! command to the server with the system's `ssh`, so agents, `~/.ssh/config`,
//! jump hosts and known_hosts all work as they do for `git push`.
//!
//! The server is `--remote` (a git remote's name or an address), else
//! `PAAS_REMOTE`, else the `deploy` git remote of the current repository; the
//! app is `-a`, else the path of that remote (`ssh://paas@host:2222/myapp`).
//!
//! This module knows no command: what each one does on this side, and how
//! its streams are wired, is `commands/forward.rs`.

mod ssh;

use std::path::PathBuf;
use std::process::Command as Process;

use crate::error::{Error, Result};
use crate::state::Root;

pub use ssh::{call, quiet, spawn_stream, spawn_with, Io};

/// The git remote `git push deploy master` uses, and `apps:create` adds.
pub const DEPLOY_REMOTE: &str = "deploy";

/// Where a paas server is reached over SSH, and the app a remote names.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The app of `ssh://host/APP` or `host:APP`.
    pub app: Option<String>,
    /// Where this came from, for messages (`the git remote \`deploy\``).
    pub source: String,
}

impl Server {
    /// Parses `ssh://[user@]host[:port][/app]`, `[user@]host:app` (git's scp
    /// form) and `[user@]host`.
    pub fn parse(address: &str, source: &str) -> Option<Server> {
        let (authority, path) = if let Some(rest) = address.strip_prefix("ssh://") {
            match rest.split_once('/') {
                Some((authority, path)) => (authority, path),
                None => (rest, ""),
            }
        } else {
            if address.contains("://") {
                return None;
            }
            match address.split_once(':') {
                Some((authority, path)) => (authority, path),
                None => (address, ""),
            }
        };
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user.to_string()), host),
            None => (None, authority),
        };
        let (host, port) = if address.starts_with("ssh://") {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port.parse().ok()?)),
                None => (host_port, None),
            }
        } else {
            (host_port, None)
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.starts_with('-') || user.as_deref() == Some("") {
            return None;
        }
        let app = path
            .trim_start_matches("~/")
            .trim_matches('/')
            .trim_end_matches(".git");
        Some(Server {
            user,
            host: host.to_string(),
            port,
            app: (!app.is_empty()).then(|| app.to_string()),
            source: source.to_string(),
        })
    }

    /// `user@host`, as `ssh` takes it.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }

    /// The git remote URL of one of this server's apps.
    pub fn git_url(&self, app: &str) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("ssh://{}{port}/{app}", self.destination())
    }
}

/// Decides where a command runs: `None` for this machine's install, else
/// the server to forward it to.
pub fn server_for(remote: Option<&str>, root: &Root) -> Result<Option<Server>> {
    if let Some(remote) = remote {
        if let Some(url) = git_remote_url(remote) {
            let source = format!("the git remote `{remote}`");
            return Server::parse(&url, &source).map(Some).ok_or_else(|| {
                Error::new(format!("{source} (`{url}`) is not an SSH address")).hint(
                    "point it at the server: `git remote set-url REMOTE ssh://paas@HOST:PORT/APP`",
                )
            });
        }
        return Server::parse(remote, &format!("`{remote}`"))
            .map(Some)
            .ok_or_else(|| {
                Error::new(format!(
                    "`{remote}` is neither a git remote of this repository nor an SSH address"
                ))
                .hint("give the server as `ssh://paas@HOST:PORT` or `paas@HOST`")
            });
    }
    if root.settings_file().exists() {
        return Ok(None);
    }
    if let Some(url) = git_remote_url(DEPLOY_REMOTE) {
        let source = format!("the git remote `{DEPLOY_REMOTE}`");
        return Server::parse(&url, &source).map(Some).ok_or_else(|| {
            Error::new(format!("{source} (`{url}`) is not an SSH address")).hint(
                "point it at the server: `git remote set-url deploy ssh://paas@HOST:PORT/APP`",
            )
        });
    }
    Err(Error::new("no paas server to talk to")
        .cause(format!(
            "this machine has no install at `{}`, and this directory has no `{DEPLOY_REMOTE}` git remote",
            root.path.display()
        ))
        .hint(
            "run it in your app's repository after `git remote add deploy ssh://paas@HOST:PORT/APP`, \
             or name the server with `--remote ssh://paas@HOST:PORT` or `PAAS_REMOTE`",
        ))
}

/// The URL of a git remote of the repository around the current directory.
fn git_remote_url(name: &str) -> Option<String> {
    let output = Process::new("git")
        .args(["remote", "get-url", "--", name])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let url = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !url.is_empty()).then_some(url)
}

/// Every git remote of the repository around the current directory, with
/// its URL (none outside one).
pub fn git_remotes() -> Vec<(String, String)> {
    let Ok(output) = Process::new("git")
        .args(["config", "--get-regexp", r"^remote\..*\.url$"])
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let (key, url) = line.split_once(' ')?;
            let name = key.strip_prefix("remote.")?.strip_suffix(".url")?;
            Some((name.to_string(), url.to_string()))
        })
        .collect()
}

/// Points an existing git remote at `url`.
pub fn set_git_remote_url(name: &str, url: &str) -> Result<()> {
    let status = Process::new("git")
        .args(["remote", "set-url", "--", name, url])
        .status()
        .map_err(|err| Error::new("could not run `git`").cause(err))?;
    if !status.success() {
        return Err(Error::new(format!("`git remote set-url {name}` failed")));
    }
    Ok(())
}

pub fn in_git_repo() -> bool {
    Process::new("git")
        .args(["rev-parse", "--git-dir"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `apps:create` prints `URL | GIT_URL`; the app is the git URL's last part.
pub fn created_app_name(stdout: &str) -> Option<String> {
    let line = stdout.lines().find(|l| l.contains(" | "))?;
    let git_url = line.rsplit(" | ").next()?.trim();
    Server::parse(git_url, "").and_then(|s| s.app)
}

pub fn add_deploy_remote(server: &Server, app: &str, replace: bool) -> Result<()> {
    point_deploy_remote(&server.git_url(app), app, replace)
}

/// Adds the `deploy` remote with `url`; an existing one is repointed only
/// when `replace` (`git:remote`), else left with a hint (`apps:create`).
pub fn point_deploy_remote(url: &str, app: &str, replace: bool) -> Result<()> {
    let current = git_remote_url(DEPLOY_REMOTE);
    if current.as_deref() == Some(url) {
        crate::say!("Git remote {DEPLOY_REMOTE} is {url}");
        return Ok(());
    }
    let verb = match (&current, replace) {
        (None, _) => "add",
        (Some(_), true) => "set-url",
        (Some(current), false) => {
            crate::say!(
                " !    The git remote `{DEPLOY_REMOTE}` already points at {current}; \
                 to deploy to {app} instead: paas git:remote -a {app}"
            );
            return Ok(());
        }
    };
    let status = Process::new("git")
        .args(["remote", verb, DEPLOY_REMOTE, url])
        .status()
        .map_err(|err| Error::new("could not run `git`").cause(err))?;
    if !status.success() {
        return Err(Error::new(format!(
            "`git remote {verb} {DEPLOY_REMOTE}` failed"
        )));
    }
    crate::say!("Git remote {DEPLOY_REMOTE} set to {url}");
    Ok(())
}

/// The key `keys:add` uploads: the file given, else the usual default keys.
pub fn read_public_key(file: Option<&std::path::Path>) -> Result<(PathBuf, String)> {
    let candidates: Vec<PathBuf> = match file {
        Some(file) => vec![file.to_path_buf()],
        None => {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"]
                .iter()
                .map(|name| home.join(".ssh").join(name))
                .collect()
        }
    };
    for path in &candidates {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok((path.clone(), text)),
            Err(err) if file.is_some() => {
                return Err(Error::new(format!("cannot read `{}`", path.display())).cause(err))
            }
            Err(_) => continue,
        }
    }
    Err(Error::new("no SSH public key found in ~/.ssh").hint(
        "create one with `ssh-keygen -t ed25519`, or name the file: `paas keys:add FILE.pub`",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_remote_forms_git_accepts() {
        let s = Server::parse("ssh://paas@example.com:2222/myapp", "x").unwrap();
        assert_eq!(s.destination(), "paas@example.com");
        assert_eq!(s.port, Some(2222));
        assert_eq!(s.app.as_deref(), Some("myapp"));
        assert_eq!(s.git_url("other"), "ssh://paas@example.com:2222/other");

        let s = Server::parse("paas@example.com:myapp.git", "x").unwrap();
        assert_eq!((s.port, s.app.as_deref()), (None, Some("myapp")));
        assert_eq!(s.git_url("myapp"), "ssh://paas@example.com/myapp");

        let s = Server::parse("ssh://vps/", "x").unwrap();
        assert_eq!((s.destination().as_str(), s.app), ("vps", None));
        assert_eq!(Server::parse("my-vps", "x").unwrap().host, "my-vps");
        assert_eq!(Server::parse("ssh://[::1]:22/a", "x").unwrap().host, "::1");
    }

    #[test]
    fn refuses_what_is_not_an_ssh_address() {
        assert_eq!(Server::parse("https://github.com/a/b.git", "x"), None);
        assert_eq!(Server::parse("ssh://host:notaport/a", "x"), None);
        assert_eq!(Server::parse("-oProxyCommand=x", "x"), None);
        assert_eq!(Server::parse("@host", "x"), None);
    }

    #[test]
    fn finds_the_created_app_in_the_output() {
        assert_eq!(
            created_app_name("http://x.localhost:8080/ | ssh://paas@127.0.0.1:2222/x\n").as_deref(),
            Some("x")
        );
        assert_eq!(created_app_name("nothing\n"), None);
    }
}
