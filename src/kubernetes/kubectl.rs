//! kubectl, the one way paas talks to a cluster (#24 point 5: no
//! hand-written API client). Behind a small trait so the scheduler's
//! steps are unit-tested against recorded exchanges (`Recorded`): no API
//! server runs on the machines the tests run on.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Context, Error, Result};

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

/// The real kubectl, with the server's kubeconfig.
pub struct Real {
    pub kubeconfig: PathBuf,
}

impl Real {
    /// kubectl with the kubeconfig, to run as the caller wants.
    pub fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new("kubectl");
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
/// `paas server install` installs none (Debian's is too old).
pub fn spawn_error(err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::NotFound {
        Error::new("`kubectl` is not installed").hint(format!(
            "install the kubectl of the cluster's Kubernetes version (`kubectl version` on the \
             cluster says it) as `/usr/local/bin/kubectl`: `curl -fLo /usr/local/bin/kubectl \
             https://dl.k8s.io/release/v1.X.Y/bin/linux/{}/kubectl && chmod 755 \
             /usr/local/bin/kubectl`. Debian 12's `kubernetes-client` is kubectl 1.20, too old \
             for current clusters",
            super::version::kubectl_arch()
        ))
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
        assert!(
            format!("{err:?}").contains("/usr/local/bin/kubectl"),
            "{err:?}"
        );
        let err = spawn_error(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(err.to_string(), "could not run `kubectl`");
    }
}
