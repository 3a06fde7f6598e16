//! kubectl, the one way paas talks to a cluster (#24 point 5: no
//! hand-written API client). Behind a small trait so the scheduler's
//! steps are unit-tested against recorded exchanges (`Recorded`): no API
//! server runs on the machines the tests run on.
//!
//! Which kubectl: the one `kubernetes:connect` installed for the cluster
//! (`<root>/bin/kubectl`, `kubectl_download`), else the PATH's (`find`).

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Context, Error, Result};
use crate::state::Root;

/// What one kubectl run said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Answer {
    /// Its stdout, or an error quoting its stderr.
    pub fn ok(self, what: &str) -> Result<String> {
        if self.code == 0 {
            Ok(self.stdout)
        } else {
            Err(Error::new(format!("`kubectl` could not {what}"))
                .cause(self.stderr.trim().to_string())
                .hint("`paas kubernetes:connect` names the cluster; check it with `kubectl --kubeconfig … get nodes`"))
        }
    }
}

/// Runs kubectl against one cluster.
pub trait Kubectl {
    /// Runs it to its end with `stdin` (if any) and collects its output.
    fn run(&self, args: &[String], stdin: Option<&str>) -> Result<Answer>;
    /// Runs it with this process's stdin, stdout and stderr (`logs -f`,
    /// `run`); returns its exit status.
    fn attached(&self, args: &[String]) -> Result<i32>;
}

/// Where `kubernetes:connect` installs the kubectl that suits the
/// cluster: in the state root, as Debian has none new enough.
pub fn installed(root: &Root) -> PathBuf {
    root.path.join("bin/kubectl")
}

/// The kubectl paas runs: the one paas installed, else the first
/// `kubectl` in `path_var` (the PATH); none if neither is there.
pub fn find(root: &Root, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let installed = installed(root);
    if installed.is_file() {
        return Some(installed);
    }
    std::env::split_paths(path_var?)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The real kubectl, with the server's kubeconfig.
pub struct Real {
    /// The program: `find`'s answer, or plain `kubectl` when there is
    /// none (which then fails to start with `spawn_error`).
    pub program: PathBuf,
    pub kubeconfig: PathBuf,
}

impl Real {
    /// The kubectl paas runs (`find`, with this process's PATH), for
    /// `kubeconfig`: every caller comes through here.
    pub fn new(root: &Root, kubeconfig: &Path) -> Real {
        Real {
            program: find(root, std::env::var_os("PATH").as_deref())
                .unwrap_or_else(|| PathBuf::from("kubectl")),
            kubeconfig: kubeconfig.to_path_buf(),
        }
    }

    /// kubectl with the kubeconfig, to run as the caller wants.
    pub fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .current_dir("/");
        command
    }
}

impl Kubectl for Real {
    fn run(&self, args: &[String], stdin: Option<&str>) -> Result<Answer> {
        let mut child = self
            .command(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .context(|| "writing to `kubectl`".into())?;
        }
        let output = child
            .wait_with_output()
            .context(|| "waiting for `kubectl`".into())?;
        Ok(Answer {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    fn attached(&self, args: &[String]) -> Result<i32> {
        let status = self.command(args).status().map_err(spawn_error)?;
        Ok(status.code().unwrap_or(128))
    }
}

/// Why kubectl did not start: most likely, it is not installed, as
/// `paas server install` installs none (Debian's is too old) and
/// `kubernetes:connect` installs the cluster's.
pub fn spawn_error(err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::NotFound {
        Error::new("`kubectl` is not installed").hint(
            "an admin runs `paas kubernetes:connect --registry …` again, which installs the \
             kubectl of the cluster's version (from `https://dl.k8s.io`, or `--kubectl-mirror \
             URL`); or install it by hand as `/usr/local/bin/kubectl`",
        )
    } else {
        Error::new("could not run `kubectl`").cause(err)
    }
}

/// A recorded conversation with kubectl, for unit tests: each call must
/// be the next one recorded (its arguments, and a piece of its stdin),
/// and gets the answer recorded with it.
#[cfg(test)]
pub struct Recorded {
    exchanges: std::cell::RefCell<std::collections::VecDeque<Exchange>>,
}

#[cfg(test)]
pub struct Exchange {
    pub args: Vec<String>,
    /// Text the stdin must contain (`apply`'s objects).
    pub stdin_has: Vec<String>,
    pub answer: Answer,
}

#[cfg(test)]
impl Exchange {
    /// `kubectl ARGS` (split on spaces) answering `stdout` with status 0.
    pub fn new(args: &str, stdout: &str) -> Exchange {
        Exchange {
            args: args.split(' ').map(String::from).collect(),
            stdin_has: Vec::new(),
            answer: Answer {
                code: 0,
                stdout: stdout.into(),
                stderr: String::new(),
            },
        }
    }

    /// The same, failing with `stderr`.
    pub fn failing(args: &str, stderr: &str) -> Exchange {
        let mut exchange = Exchange::new(args, "");
        exchange.answer.code = 1;
        exchange.answer.stderr = stderr.into();
        exchange
    }

    /// Its stdin must contain each of `pieces`.
    pub fn with_stdin(mut self, pieces: &[&str]) -> Exchange {
        self.stdin_has = pieces.iter().map(|p| p.to_string()).collect();
        self
    }
}

#[cfg(test)]
impl Recorded {
    pub fn new(exchanges: Vec<Exchange>) -> Recorded {
        Recorded {
            exchanges: std::cell::RefCell::new(exchanges.into()),
        }
    }

    /// Every recorded exchange happened.
    pub fn assert_done(&self) {
        let left: Vec<String> = self
            .exchanges
            .borrow()
            .iter()
            .map(|e| e.args.join(" "))
            .collect();
        assert!(left.is_empty(), "kubectl calls that never came: {left:#?}");
    }

    fn next(&self, args: &[String], stdin: Option<&str>) -> Answer {
        let exchange = self
            .exchanges
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| panic!("an unexpected kubectl call: {}", args.join(" ")));
        assert_eq!(args, exchange.args.as_slice(), "kubectl called otherwise");
        for piece in &exchange.stdin_has {
            let stdin = stdin.unwrap_or_default();
            assert!(
                stdin.contains(piece),
                "`{piece}` not in kubectl's stdin:\n{stdin}"
            );
        }
        exchange.answer
    }
}

#[cfg(test)]
impl Kubectl for Recorded {
    fn run(&self, args: &[String], stdin: Option<&str>) -> Result<Answer> {
        Ok(self.next(args, stdin))
    }

    fn attached(&self, args: &[String]) -> Result<i32> {
        Ok(self.next(args, None).code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_kubectl_says_what_to_install() {
        let err = spawn_error(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(err.to_string(), "`kubectl` is not installed");
        let full = format!("{err:?}");
        assert!(full.contains("`paas kubernetes:connect"), "{full}");
        assert!(full.contains("/usr/local/bin/kubectl"), "{full}");
        let err = spawn_error(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(err.to_string(), "could not run `kubectl`");
    }

    #[test]
    fn the_kubectl_paas_installed_comes_before_the_paths() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path().join("root"));
        let on_path = dir.path().join("path");
        std::fs::create_dir_all(&on_path).unwrap();
        let path_var = std::env::join_paths([dir.path().join("empty"), on_path.clone()]).unwrap();
        assert_eq!(find(&root, Some(&path_var)), None);
        assert_eq!(find(&root, None), None);
        // Not executable: not a program.
        let theirs = on_path.join("kubectl");
        std::fs::write(&theirs, "#!/bin/sh\n").unwrap();
        assert_eq!(find(&root, Some(&path_var)), None);
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find(&root, Some(&path_var)), Some(theirs));
        let ours = installed(&root);
        std::fs::create_dir_all(ours.parent().unwrap()).unwrap();
        std::fs::write(&ours, "#!/bin/sh\n").unwrap();
        assert_eq!(find(&root, Some(&path_var)), Some(ours.clone()));
        assert_eq!(find(&root, None), Some(ours.clone()));
        assert_eq!(Real::new(&root, Path::new("k.yaml")).program, ours);
    }
}
