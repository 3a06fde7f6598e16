//! The install's ports and domain: checked free before the install starts
//! anything, and compared with what a running install has, so installing
//! again with other options says what it changed and restarts what must.

use std::net::TcpListener;

use super::sshd;
use crate::error::{Error, Result};
use crate::state::{Root, Settings};

/// Fails when a port the install is to listen on is held by another
/// program, or named twice. A port this install already listens on (the
/// same port, its daemon or sshd answering) is its own, not another's.
pub fn check_free(
    root: &Root,
    installed: Option<&Settings>,
    local: bool,
    ssh_port: u16,
    http_port: u16,
    https_port: u16,
) -> Result<()> {
    let address = if local { "127.0.0.1" } else { "0.0.0.0" };
    let daemon_up = installed.is_some() && crate::control::ping_daemon(root).is_ok();
    let sshd_up = local && sshd::running(root);
    let mut wanted = vec![
        (
            http_port,
            "--http-port",
            daemon_up && installed.is_some_and(|s| s.http_port == http_port),
        ),
        (
            https_port,
            "--https-port",
            daemon_up && installed.is_some_and(|s| s.https_port == Some(https_port)),
        ),
    ];
    if local {
        let ours = sshd_up && installed.is_some_and(|s| s.local && s.ssh_port == ssh_port);
        wanted.push((ssh_port, "--ssh-port", ours));
    }
    for (i, (port, option, ours)) in wanted.iter().enumerate() {
        if let Some((_, other, _)) = wanted[..i].iter().find(|(p, _, _)| p == port) {
            return Err(
                Error::new(format!("`{other}` and `{option}` are both {port}"))
                    .hint("give each listener its own port"),
            );
        }
        if *ours {
            continue;
        }
        if let Err(err) = TcpListener::bind((address, *port)) {
            return Err(Error::new(format!(
                "port {port} on {address} is held by another program"
            ))
            .cause(err)
            .hint(format!(
                "pick another with `{option}`, or stop that program (`ss -ltnp 'sport = {port}'` names it); nothing was changed"
            )));
        }
    }
    Ok(())
}

/// What the daemon must restart for: the settings it reads at start that
/// differ from the install's, said as a user would want to read them.
pub fn changes(installed: Option<&Settings>, new: &Settings) -> Vec<String> {
    let Some(old) = installed else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    if old.http_port != new.http_port {
        changes.push(format!(
            "HTTP port {} (was {})",
            new.http_port, old.http_port
        ));
    }
    if old.https_port != new.https_port {
        let port = |p: Option<u16>| p.map_or("none".to_string(), |p| p.to_string());
        changes.push(format!(
            "HTTPS port {} (was {})",
            port(new.https_port),
            port(old.https_port)
        ));
    }
    if old.domain != new.domain {
        changes.push(format!("domain {} (was {})", new.domain, old.domain));
    }
    if old != new && changes.is_empty() {
        changes.push("settings".into());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(http: u16, domain: &str) -> Settings {
        Settings {
            http_port: http,
            domain: domain.into(),
            ..Settings::example()
        }
    }

    #[test]
    fn changes_name_what_moved() {
        let old = settings(8080, "localhost");
        assert!(changes(None, &old).is_empty());
        assert!(changes(Some(&old), &old).is_empty());
        assert_eq!(
            changes(Some(&old), &settings(8081, "example.com")),
            [
                "HTTP port 8081 (was 8080)",
                "domain example.com (was localhost)"
            ]
        );
        let quieter = Settings {
            slug_limit_mb: Some(5),
            ..old.clone()
        };
        assert_eq!(changes(Some(&old), &quieter), ["settings"]);
    }

    #[test]
    fn a_held_port_or_a_port_named_twice_is_refused() {
        let root = Root::new("/nonexistent/paas-ports-test");
        let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let err = check_free(&root, None, true, 1, port, 2).unwrap_err();
        assert!(
            err.message().contains(&format!("port {port}")),
            "{}",
            err.report()
        );
        let err = check_free(&root, None, true, 1, 1, 2).unwrap_err();
        assert!(err.message().contains("both 1"), "{}", err.report());
        drop(held);
        let free = || {
            TcpListener::bind(("127.0.0.1", 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        check_free(&root, None, true, free(), port, free()).unwrap();
    }
}
