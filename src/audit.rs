//! The audit trail (#20): every command that changes something, every push
//! and every refusal, one JSON line each in `logs/audit.log`: when, who
//! (user and key fingerprint), which app, the command with config values
//! and passwords redacted, and how it ended. Appended only; no command
//! edits it. Past `LIMIT` bytes the file becomes `audit.log.1` (the one
//! before that goes), so the trail keeps between one and two limits.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};
use crate::state::Root;

/// Bytes of trail before the file is turned over.
const LIMIT: u64 = 4 << 20;

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339, UTC.
    pub time: String,
    pub user: String,
    /// The key's fingerprint (`SHA256:…`); empty on the server itself.
    pub key: String,
    pub app: Option<String>,
    /// What was asked, redacted (`config:set SECRET=… -a app1`, `git push`).
    pub command: String,
    /// `ok`, `deployed v7`, or the error's first line.
    pub result: String,
}

fn path(root: &Root) -> PathBuf {
    root.logs_dir().join("audit.log")
}

/// Appends an entry. Under a lock of its own, so turning the file over
/// never loses another process's line.
pub fn append(root: &Root, entry: &Entry) -> Result<()> {
    let file = path(root);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.logs_dir().join("audit.lock"))
        .context(|| "opening the audit trail's lock".into())?;
    lock.lock().context(|| "locking the audit trail".into())?;
    if fs::metadata(&file).is_ok_and(|m| m.len() >= LIMIT) {
        fs::rename(&file, file.with_extension("log.1"))
            .context(|| "turning the audit trail over".into())?;
    }
    let mut line = serde_json::to_string(entry).context(|| "encoding an audit entry".into())?;
    line.push('\n');
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut f| {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
            // One write: lines from processes appending at once never mix.
            f.write_all(line.as_bytes())?;
            f.sync_data()
        })
        .context(|| format!("appending to `{}`", file.display()))
}

/// The whole trail, oldest first (lines that do not parse are skipped).
pub fn read(root: &Root) -> Vec<Entry> {
    let file = path(root);
    [file.with_extension("log.1"), file]
        .iter()
        .filter_map(|p| File::open(p).ok())
        .flat_map(|f| BufReader::new(f).lines().map_while(|l| l.ok()))
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}

/// The command as the trail records it: config values (`KEY=value`, also
/// in `-e 'A=1;B=2'`), the passwords in URLs and webhooks' secrets and
/// authorizations (`--secret`, `--authorization`; `-s` and `-t` of the
/// `webhooks` commands) replaced by `…`.
pub fn redact(words: &[String]) -> String {
    let webhooks = words
        .iter()
        .any(|word| word == "webhooks" || word.starts_with("webhooks:"));
    let secret_option = |word: &str| {
        matches!(word, "--secret" | "--authorization") || (webhooks && matches!(word, "-s" | "-t"))
    };
    let mut said = Vec::with_capacity(words.len());
    for (at, word) in words.iter().enumerate() {
        let after_option = at > 0 && secret_option(&words[at - 1]);
        let attached = ["--secret=", "--authorization="]
            .into_iter()
            .chain(webhooks.then_some(["-s", "-t"]).into_iter().flatten())
            .find(|option| word.starts_with(option) && word.len() > option.len());
        said.push(match (after_option, attached) {
            (true, _) => "…".to_string(),
            (false, Some(option)) => format!("{option}…"),
            (false, None) => redact_word(word),
        });
    }
    said.join(" ")
}

fn redact_word(word: &str) -> String {
    if let Some((key, _)) = word.split_once('=') {
        let is_var = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if is_var {
            return format!("{key}=…");
        }
    }
    if word.contains("://") {
        return redact_url(word, false);
    }
    word.to_string()
}

/// A URL without its credentials: the password of `user:password@` (a
/// user alone, often a token, entirely) and, unless `keep_query`, the
/// query (`?token=…`, a signed URL's signature) and fragment. Text that is
/// no URL comes back as it is.
pub fn redact_url(url: &str, keep_query: bool) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:…@{host}"),
            None => format!("…@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.find(['?', '#']) {
        Some(at) if !keep_query => format!("{}{}…", &tail[..at], &tail[at..at + 1]),
        _ => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    #[test]
    fn config_values_and_passwords_never_reach_the_trail() {
        assert_eq!(
            redact(&words("config:set SECRET=s3cret DEBUG=1 -a app1")),
            "config:set SECRET=… DEBUG=… -a app1"
        );
        assert_eq!(
            redact(&words("run -e A=1;B=2 -a app1 rake db:migrate")),
            "run -e A=… -a app1 rake db:migrate"
        );
        assert_eq!(
            redact(&words(
                "drains:add https://log:hunter2@logs.example.com/x -a app1"
            )),
            "drains:add https://log:…@logs.example.com/x -a app1"
        );
        assert_eq!(
            redact(&words("--app=app1 ps:scale web=2")),
            "--app=app1 ps:scale web=…"
        );
    }

    #[test]
    fn urls_lose_their_credentials_and_queries() {
        assert_eq!(
            redact(&words(
                "webhooks:add -u https://t0ken@h.example.com/x?sig=abc&a=b@c#f"
            )),
            "webhooks:add -u https://…@h.example.com/x?…"
        );
        assert_eq!(
            redact_url("https://u:p@h.example.com/x?sig=abc", true),
            "https://u:…@h.example.com/x?sig=abc"
        );
        assert_eq!(
            redact_url("http://h.example.com/a@b?x", false),
            "http://h.example.com/a@b?…"
        );
        assert_eq!(redact_url("not a url", false), "not a url");
    }

    #[test]
    fn webhooks_secrets_never_reach_the_trail() {
        assert_eq!(
            redact(&words(
                "webhooks:add -i dyno -u https://h.example.com/x -s s3cret -t Bearer -a app1"
            )),
            "webhooks:add -i dyno -u https://h.example.com/x -s … -t … -a app1"
        );
        assert_eq!(
            redact(&words(
                "-a app1 webhooks update 0190 --secret=s3cret -ss3cret --authorization x"
            )),
            "-a app1 webhooks update 0190 --secret=… -s… --authorization …"
        );
        // `-s` of another command is its own.
        assert_eq!(redact(&words("logs -s app -a app1")), "logs -s app -a app1");
    }

    #[test]
    fn the_trail_is_appended_and_turned_over_past_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        fs::create_dir_all(root.logs_dir()).unwrap();
        let entry = |n: usize| Entry {
            time: format!("2026-12-07T00:00:{n:02}Z"),
            user: "bob".into(),
            key: "SHA256:x".into(),
            app: Some("app1".into()),
            command: "config:set A=…".into(),
            result: "ok".into(),
        };
        append(&root, &entry(1)).unwrap();
        append(&root, &entry(2)).unwrap();
        assert_eq!(read(&root), [entry(1), entry(2)]);
        // Past the limit, the file turns over and both parts are read.
        let big = path(&root);
        let mut f = OpenOptions::new().append(true).open(&big).unwrap();
        f.write_all(&vec![b'\n'; LIMIT as usize]).unwrap();
        append(&root, &entry(3)).unwrap();
        assert_eq!(read(&root), [entry(1), entry(2), entry(3)]);
        assert!(fs::metadata(&big).unwrap().len() < 1024);
        append(&root, &entry(4)).unwrap();
        assert_eq!(read(&root).len(), 4);
    }
}
