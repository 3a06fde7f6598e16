//! The SSH entry: `paas ssh-command` is the forced command in
//! `authorized_keys`; this module decides what a connection may run.
//!
//! The command line a client sends (`SSH_ORIGINAL_COMMAND`) is split here
//! with the quoting a POSIX shell would apply, but no shell ever runs it:
//! unquoted shell metacharacters are refused outright, so a command that
//! means something different to a shell than to us never gets through.

use thiserror::Error;

use crate::state::{AppName, NameError};

/// What a connection asked for.
#[derive(Debug, PartialEq)]
pub enum SshRequest {
    /// `git push`: receive a pack into the app's repo.
    GitReceivePack(AppName),
    /// `git clone` / `git fetch`: send the app's repo.
    GitUploadPack(AppName),
    /// A paas command, as its arguments (`["config:set", "A=1"]`).
    Paas(Vec<String>),
}

#[derive(Debug, Error, PartialEq)]
pub enum SshCommandError {
    #[error("no command given")]
    Empty,
    #[error("the command is longer than 64 KiB")]
    TooLong,
    #[error("unquoted `{0}` is not allowed: commands are not run by a shell")]
    Metacharacter(char),
    #[error("unterminated quote in the command")]
    UnterminatedQuote,
    #[error("control characters are not allowed in the command")]
    ControlCharacter,
    #[error("the command is not valid UTF-8 (byte 0x{byte:02x} at offset {offset})")]
    NotUtf8 { offset: usize, byte: u8 },
    #[error("the command ends in a backslash, which escapes nothing")]
    TrailingBackslash,
    #[error("`{command}` takes exactly one repository argument")]
    GitArguments { command: String },
    #[error("{0}")]
    AppName(#[from] NameError),
}

const MAX_COMMAND_LEN: usize = 64 * 1024;

/// `SSH_ORIGINAL_COMMAND` as text. sshd passes the client's bytes on as
/// they came; where they are not UTF-8 is said, not shown.
pub fn command_text(raw: &std::ffi::OsStr) -> Result<&str, SshCommandError> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = raw.as_bytes();
    std::str::from_utf8(bytes).map_err(|err| {
        let offset = err.valid_up_to();
        SshCommandError::NotUtf8 {
            offset,
            byte: bytes[offset],
        }
    })
}

/// Parses `SSH_ORIGINAL_COMMAND`.
pub fn parse_request(command: &str) -> Result<SshRequest, SshCommandError> {
    if command.len() > MAX_COMMAND_LEN {
        return Err(SshCommandError::TooLong);
    }
    let words = split_words(command)?;
    let Some(first) = words.first() else {
        return Err(SshCommandError::Empty);
    };
    match first.as_str() {
        "git-receive-pack" | "git-upload-pack" | "git receive-pack" | "git upload-pack" => {
            if words.len() != 2 {
                return Err(SshCommandError::GitArguments {
                    command: first.clone(),
                });
            }
            let app = app_from_repo_path(&words[1])?;
            if first.contains("receive") {
                Ok(SshRequest::GitReceivePack(app))
            } else {
                Ok(SshRequest::GitUploadPack(app))
            }
        }
        // `git` sends `git-receive-pack`, but some clients send `git receive-pack`.
        "git"
            if matches!(
                words.get(1).map(String::as_str),
                Some("receive-pack" | "upload-pack")
            ) =>
        {
            let joined = format!("git-{}", words[1]);
            let rest: Vec<String> = words[2..].to_vec();
            if rest.len() != 1 {
                return Err(SshCommandError::GitArguments { command: joined });
            }
            let app = app_from_repo_path(&rest[0])?;
            if joined.contains("receive") {
                Ok(SshRequest::GitReceivePack(app))
            } else {
                Ok(SshRequest::GitUploadPack(app))
            }
        }
        // Allow `ssh paas@host paas ps` as well as `ssh paas@host ps`.
        "paas" => Ok(SshRequest::Paas(words[1..].to_vec())),
        _ => Ok(SshRequest::Paas(words)),
    }
}

/// `'myapp'`, `'/myapp.git'`, `'~/myapp'`, `'myapp.git/'` all name `myapp`.
fn app_from_repo_path(path: &str) -> Result<AppName, SshCommandError> {
    let trimmed = path.trim_start_matches("~/").trim_start_matches('/');
    let trimmed = trimmed.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    Ok(AppName::parse(trimmed)?)
}

/// Splits a command line into words as a shell would quote them: `'…'` is
/// literal, `"…"` allows `\"` and `\\`, a backslash outside quotes escapes the
/// next character. Anything a shell would expand or act on is refused.
pub fn split_words(line: &str) -> Result<Vec<String>, SshCommandError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) if c.is_control() && c != '\t' => {
                            return Err(SshCommandError::ControlCharacter)
                        }
                        Some(c) => current.push(c),
                        None => return Err(SshCommandError::UnterminatedQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => current.push(c),
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err(SshCommandError::UnterminatedQuote),
                        },
                        // A shell would expand these inside double quotes.
                        Some(c @ ('$' | '`')) => return Err(SshCommandError::Metacharacter(c)),
                        Some(c) if c.is_control() && c != '\t' => {
                            return Err(SshCommandError::ControlCharacter)
                        }
                        Some(c) => current.push(c),
                        None => return Err(SshCommandError::UnterminatedQuote),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) if !c.is_control() => {
                    in_word = true;
                    current.push(c);
                }
                Some(_) => return Err(SshCommandError::ControlCharacter),
                None => return Err(SshCommandError::TrailingBackslash),
            },
            // git's own `~/repo` convention; a shell would expand it, we take it literally.
            '~' if !in_word && chars.clone().next() == Some('/') => {
                in_word = true;
                current.push(c);
            }
            ';' | '&' | '|' | '<' | '>' | '$' | '`' | '(' | ')' | '{' | '}' | '*' | '?' | '['
            | ']' | '~' | '#' | '!' => return Err(SshCommandError::Metacharacter(c)),
            c if c.is_control() => return Err(SshCommandError::ControlCharacter),
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// sshd runs the forced command through the owner's shell, so every value
/// pasted into it must be free of anything a shell would act on.
pub fn safe_in_forced_command(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

/// A key's user name: lowercase letters, digits, `_` and `-`, 1 to 32.
pub fn valid_user_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Who a key is, as its forced command tells `ssh-command`: its user, its
/// fingerprint (for the audit trail), and for a deploy key its one app.
pub struct ForcedCommand<'a> {
    pub user: &'a str,
    pub fingerprint: &'a str,
    pub deploy: Option<&'a str>,
}

/// The `authorized_keys` line for a key: every login runs the forced command,
/// with no shell, port forwarding, agent or X11 (`restrict`), but a terminal
/// when the client asks for one (`pty`), for `run bash` and `pg:psql`; a
/// deploy key only pushes, and gets none.
pub fn authorized_keys_line(
    paas_bin: &str,
    root: &str,
    who: &ForcedCommand,
    public_key: &str,
) -> String {
    let ForcedCommand {
        user, fingerprint, ..
    } = who;
    match who.deploy {
        None => format!(
            "command=\"{paas_bin} --root {root} ssh-command --user {user} --key {fingerprint}\",restrict,pty {}",
            public_key.trim()
        ),
        Some(app) => format!(
            "command=\"{paas_bin} --root {root} ssh-command --user {user} --key {fingerprint} --deploy {app}\",restrict {}",
            public_key.trim()
        ),
    }
}

/// Checks that a public key file holds exactly one OpenSSH public key line.
pub fn parse_public_key(text: &str) -> Result<String, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let [line] = lines.as_slice() else {
        return Err(format!(
            "expected one public key line, found {}",
            lines.len()
        ));
    };
    let mut parts = line.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let data = parts.next().unwrap_or_default();
    let known = kind.starts_with("ssh-")
        || kind.starts_with("ecdsa-sha2-")
        || kind.starts_with("sk-ssh-")
        || kind.starts_with("sk-ecdsa-");
    if !known {
        return Err(format!("`{kind}` is not an OpenSSH public key type"));
    }
    let base64 = data
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
    if data.len() < 16 || !base64 {
        return Err("the key data is not base64".into());
    }
    if line.contains('"') {
        return Err("the key line holds a quote".into());
    }
    if line.chars().any(char::is_control) {
        return Err("the key line holds control characters".into());
    }
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> AppName {
        AppName::parse(name).unwrap()
    }

    #[test]
    fn accepts_every_quoting_git_sends() {
        for command in [
            "git-receive-pack 'myapp'",
            "git-receive-pack '/myapp'",
            "git-receive-pack 'myapp.git'",
            "git-receive-pack '/myapp.git'",
            "git-receive-pack '~/myapp.git'",
            "git-receive-pack myapp",
            "git-receive-pack \"myapp\"",
            "git receive-pack 'myapp'",
        ] {
            assert_eq!(
                parse_request(command).unwrap(),
                SshRequest::GitReceivePack(app("myapp")),
                "{command}"
            );
        }
        assert_eq!(
            parse_request("git-upload-pack '/myapp.git'").unwrap(),
            SshRequest::GitUploadPack(app("myapp"))
        );
    }

    #[test]
    fn paas_commands_keep_quoted_values() {
        assert_eq!(
            parse_request("config:set -a myapp 'GREETING=hello; world' B=\"x y\"").unwrap(),
            SshRequest::Paas(vec![
                "config:set".into(),
                "-a".into(),
                "myapp".into(),
                "GREETING=hello; world".into(),
                "B=x y".into(),
            ])
        );
        assert_eq!(
            parse_request("paas ps -a x").unwrap(),
            SshRequest::Paas(vec!["ps".into(), "-a".into(), "x".into()])
        );
    }

    #[test]
    fn refuses_hostile_commands() {
        let cases = [
            ("ps; rm -rf /", SshCommandError::Metacharacter(';')),
            ("ps && id", SshCommandError::Metacharacter('&')),
            ("ps | nc x 1", SshCommandError::Metacharacter('|')),
            ("ps > /etc/passwd", SshCommandError::Metacharacter('>')),
            ("config:set A=$(id)", SshCommandError::Metacharacter('$')),
            ("config:set A=`id`", SshCommandError::Metacharacter('`')),
            (
                "config:set \"A=$(id)\"",
                SshCommandError::Metacharacter('$'),
            ),
            ("ps\nid", SshCommandError::ControlCharacter),
            ("ps \\\n", SshCommandError::ControlCharacter),
            ("ps -a app\\", SshCommandError::TrailingBackslash),
            ("ps \"a\\", SshCommandError::UnterminatedQuote),
            ("ps 'unterminated", SshCommandError::UnterminatedQuote),
            ("", SshCommandError::Empty),
            (
                "git-receive-pack",
                SshCommandError::GitArguments {
                    command: "git-receive-pack".into(),
                },
            ),
        ];
        for (command, expected) in cases {
            assert_eq!(parse_request(command).unwrap_err(), expected, "{command:?}");
        }
        assert!(matches!(
            parse_request("git-receive-pack '../../etc'"),
            Err(SshCommandError::AppName(_))
        ));
        assert!(matches!(
            parse_request("git-upload-pack '/var/lib/paas/apps/x'"),
            Err(SshCommandError::AppName(_))
        ));
        assert_eq!(
            SshCommandError::Metacharacter(';').to_string(),
            "unquoted `;` is not allowed: commands are not run by a shell"
        );
        assert_eq!(
            SshCommandError::TrailingBackslash.to_string(),
            "the command ends in a backslash, which escapes nothing"
        );
    }

    #[test]
    fn a_command_that_is_not_utf8_says_where() {
        use std::os::unix::ffi::OsStrExt;
        let raw = std::ffi::OsStr::from_bytes(b"ps -a caf\xe9");
        let err = command_text(raw).unwrap_err();
        assert_eq!(
            err,
            SshCommandError::NotUtf8 {
                offset: 9,
                byte: 0xe9
            }
        );
        assert_eq!(
            err.to_string(),
            "the command is not valid UTF-8 (byte 0xe9 at offset 9)"
        );
        assert_eq!(
            command_text(std::ffi::OsStr::new("ps -a café")),
            Ok("ps -a café")
        );
    }

    #[test]
    fn authorized_keys_line_forces_the_command() {
        let mut who = ForcedCommand {
            user: "admin",
            fingerprint: "SHA256:abc+/1",
            deploy: None,
        };
        let line = authorized_keys_line(
            "/r/bin/paas",
            "/r",
            &who,
            "ssh-ed25519 AAAAC3Nza admin@laptop\n",
        );
        assert_eq!(
            line,
            "command=\"/r/bin/paas --root /r ssh-command --user admin --key SHA256:abc+/1\",restrict,pty ssh-ed25519 AAAAC3Nza admin@laptop"
        );
        who.deploy = Some("app1");
        let line = authorized_keys_line("/r/bin/paas", "/r", &who, "ssh-ed25519 AAAAC3Nza ci");
        assert_eq!(
            line,
            "command=\"/r/bin/paas --root /r ssh-command --user admin --key SHA256:abc+/1 --deploy app1\",restrict ssh-ed25519 AAAAC3Nza ci",
            "a deploy key gets no terminal"
        );
    }

    #[test]
    fn forced_command_values_are_shell_safe() {
        assert!(safe_in_forced_command("/var/lib/paas"));
        assert!(safe_in_forced_command("/tmp/paas-test-Ab_1.x"));
        for bad in [
            "",
            "/tmp/a b",
            "/tmp/$(id)",
            "/tmp/a;b",
            "/tmp/a\"b",
            "/tmp/'",
        ] {
            assert!(!safe_in_forced_command(bad), "{bad:?}");
        }
        assert!(valid_user_name("admin"));
        assert!(valid_user_name("ci-bot_2"));
        for bad in ["", "Admin", "bob --root=/x", "a\"b", "a/b"] {
            assert!(!valid_user_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn public_keys_are_checked() {
        assert!(parse_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB x@y\n").is_ok());
        assert!(parse_public_key("").is_err());
        assert!(parse_public_key("not a key").is_err());
        assert!(parse_public_key("ssh-ed25519 AAAA$$$$ x").is_err());
        assert!(parse_public_key(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB"
        )
        .is_err());
    }
}
