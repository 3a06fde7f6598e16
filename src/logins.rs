//! The dashboard's logins (#23 point 4): one-time links and sessions, as
//! files under `dashboard/` in the root, so `paas dashboard` (run as the
//! SSH user's command, as the install's owner) and the daemon (which
//! redeems them) share them without a socket, and a daemon restart logs
//! nobody out.
//!
//! A link's token and a session's id are 32 random bytes from the kernel,
//! given out once and stored only as their SHA-256: a copy of the root
//! (a backup) holds nothing that logs in. A link lives 60 s and is taken
//! by removing its file (only one remover of a file succeeds, so a link
//! used twice at once logs in once). A session ends after 12 h without a
//! request; its last request's time is the file's modification time, set
//! at most once a minute through the file already open (never by writing
//! the file anew, which would bring back a session a logout had just
//! removed).

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Context, Result};
use crate::state::{self, AppName, Root, Settings};

/// How long a login link may wait to be opened.
pub const LINK_LIFETIME_SECS: i64 = 60;
/// How long a session lasts without a request.
pub const SESSION_IDLE_SECS: i64 = 12 * 3600;
/// How often a session's last request is written down.
const TOUCH_EVERY_SECS: i64 = 60;
/// How long a session lasts at most, visited or not: a stolen cookie
/// does not work for ever. The browser keeps the cookie as long; the
/// idle end is this side's to enforce.
pub const SESSION_MAX_SECS: i64 = 7 * 24 * 3600;

/// Who a link or session is for: what the CLI would know of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    /// An admin key (or a login on the server itself): sees every app.
    pub admin: bool,
    /// Logged in with an SSH key: the session lasts while the user has a
    /// key, and is an admin's while one of them is (the daemon checks).
    #[serde(default)]
    pub by_key: bool,
}

/// A logged-in browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    #[serde(flatten)]
    pub holder: Holder,
    /// Sent back with every button's form (a page of another site cannot
    /// read it, so cannot make a request carrying it).
    pub csrf: String,
    /// Unix seconds.
    pub created: i64,
    pub last_seen: i64,
    /// Made over HTTPS: only such a session is taken over HTTPS (the id
    /// of one made over plain HTTP may have been read on the way).
    #[serde(default)]
    pub secure: bool,
}

#[derive(Serialize, Deserialize)]
struct Link {
    #[serde(flatten)]
    holder: Holder,
    expires: i64,
    /// The page the login lands on (an app's, for `paas dashboard -a APP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app: Option<String>,
}

/// A redeemed link: whom it logs in, and the app whose page it opens.
#[derive(Debug, PartialEq)]
pub struct Redeemed {
    pub holder: Holder,
    pub app: Option<AppName>,
}

fn dir(root: &Root) -> PathBuf {
    root.path.join("dashboard")
}

fn links_dir(root: &Root) -> PathBuf {
    dir(root).join("links")
}

fn sessions_dir(root: &Root) -> PathBuf {
    dir(root).join("sessions")
}

/// A secret's file name: its SHA-256, so the secret itself is never stored.
/// Anything but 64 hex digits is no secret of ours (and names no file).
fn file_name(secret: &str) -> Option<String> {
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(
        Sha256::digest(secret.to_ascii_lowercase().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The dashboard's address on this install: `https://paas.DOMAIN/` when
/// the router serves HTTPS and has a certificate that covers the name
/// (`https_ready`: its own, or an app's wildcard), else plain HTTP on the
/// router's port (`http://paas.localhost:PORT/` for `--local`): a link
/// whose TLS handshake fails would log nobody in.
pub fn dashboard_url(settings: &Settings, https_ready: bool) -> String {
    let host = settings.dashboard_host();
    let https = settings.https_port.filter(|_| https_ready);
    match (https, settings.http_port) {
        (Some(443), _) => format!("https://{host}/"),
        (Some(port), _) => format!("https://{host}:{port}/"),
        (None, 80) => format!("http://{host}/"),
        (None, port) => format!("http://{host}:{port}/"),
    }
}

/// A new one-time link for `holder`, landing on `app`'s page if given:
/// the URL to open within 60 s.
pub fn issue_link(
    root: &Root,
    settings: &Settings,
    holder: Holder,
    app: Option<&AppName>,
    now: i64,
) -> Result<String> {
    let token = crate::random::hex(32)?;
    let name = file_name(&token).expect("a new secret is 64 hex digits");
    let dir = links_dir(root);
    state::create_dir(&dir, 0o700)?;
    sweep(&dir, now - LINK_LIFETIME_SECS);
    let link = Link {
        holder,
        expires: now + LINK_LIFETIME_SECS,
        app: app.map(|a| a.to_string()),
    };
    let text = toml::to_string(&link).context(|| "encoding a login link".into())?;
    state::write_atomic(&dir.join(name), text.as_bytes(), 0o600)?;
    let https_ready = crate::certs::for_dashboard(root, settings).is_some();
    Ok(format!(
        "{}login/{token}",
        dashboard_url(settings, https_ready)
    ))
}

/// Takes a link: whom it is for, once, within its lifetime; `None` for a
/// link unknown, used or expired.
pub fn redeem_link(root: &Root, token: &str, now: i64) -> Option<Redeemed> {
    let path = links_dir(root).join(file_name(token)?);
    let text = fs::read_to_string(&path).ok()?;
    // Whoever removes the file has the link; a second opener finds none.
    fs::remove_file(&path).ok()?;
    let link: Link = toml::from_str(&text).ok()?;
    (now <= link.expires).then(|| Redeemed {
        holder: link.holder,
        app: link.app.and_then(|a| AppName::parse(&a).ok()),
    })
}

/// A new session for `holder`: its id, for the cookie, and the session.
pub fn start_session(
    root: &Root,
    holder: Holder,
    secure: bool,
    now: i64,
) -> Result<(String, Session)> {
    let id = crate::random::hex(32)?;
    let session = Session {
        holder,
        csrf: crate::random::hex(32)?,
        created: now,
        last_seen: now,
        secure,
    };
    let dir = sessions_dir(root);
    state::create_dir(&dir, 0o700)?;
    sweep(&dir, now - SESSION_IDLE_SECS);
    write_session(root, &id, &session)?;
    if let Some(name) = file_name(&id) {
        // Its last request is the file's time (see `session`).
        let file = fs::File::open(sessions_dir(root).join(name))
            .context(|| "opening the new session".into())?;
        touch(&file, now);
    }
    Ok((id, session))
}

/// A file's modification time, in unix seconds.
fn modified_secs(metadata: &fs::Metadata) -> Option<i64> {
    let modified = metadata.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since.as_secs() as i64)
}

/// Sets an open file's modification time to `now` (unix seconds).
fn touch(file: &fs::File, now: i64) {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.max(0) as u64);
    let _ = file.set_modified(at);
}

fn write_session(root: &Root, id: &str, session: &Session) -> Result<()> {
    let name = file_name(id).expect("a session id is 64 hex digits");
    let text = toml::to_string(session).context(|| "encoding a session".into())?;
    state::write_atomic(&sessions_dir(root).join(name), text.as_bytes(), 0o600)
}

/// The session a cookie names, if it has not been idle too long; its last
/// request is noted.
pub fn session(root: &Root, id: &str, now: i64) -> Option<Session> {
    let name = file_name(id)?;
    let path = sessions_dir(root).join(name);
    // Read and touched through one open file: a logout that removes the
    // file meanwhile stays a logout.
    let mut file = fs::File::open(&path).ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).ok()?;
    let mut session: Session = toml::from_str(&text).ok()?;
    let touched = file.metadata().ok().and_then(|m| modified_secs(&m));
    session.last_seen = session.last_seen.max(touched.unwrap_or(0));
    if now - session.last_seen > SESSION_IDLE_SECS || now - session.created > SESSION_MAX_SECS {
        let _ = fs::remove_file(&path);
        return None;
    }
    if now - session.last_seen >= TOUCH_EVERY_SECS {
        session.last_seen = now;
        // A session that cannot be touched still serves this request.
        touch(&file, now);
    }
    Some(session)
}

/// Ends a session (log out).
pub fn end_session(root: &Root, id: &str) {
    if let Some(name) = file_name(id) {
        let _ = fs::remove_file(sessions_dir(root).join(name));
    }
}

/// Removes the files in `dir` last written before `before` (unix
/// seconds): expired links, sessions idle past their time.
fn sweep(dir: &std::path::Path, before: i64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let modified = entry.metadata().ok().and_then(|m| modified_secs(&m));
        if modified.unwrap_or(i64::MAX) < before {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder() -> Holder {
        Holder {
            user: "alice".into(),
            admin: false,
            by_key: true,
        }
    }

    fn token_of(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }

    #[test]
    fn a_link_logs_in_once_within_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let settings = Settings::example();
        let url = issue_link(&root, &settings, holder(), None, 1000).unwrap();
        assert!(url.starts_with("http://paas.example.com/login/"), "{url}");
        let token = token_of(&url);
        let redeemed = redeem_link(&root, token, 1030).unwrap();
        assert_eq!((redeemed.holder, redeemed.app), (holder(), None));
        assert_eq!(redeem_link(&root, token, 1031), None, "used twice");
        let app = AppName::parse("web").unwrap();
        let to_app = issue_link(&root, &settings, holder(), Some(&app), 1000).unwrap();
        let redeemed = redeem_link(&root, token_of(&to_app), 1000).unwrap();
        assert_eq!(redeemed.app, Some(app));

        let late = issue_link(&root, &settings, holder(), None, 1000).unwrap();
        assert_eq!(redeem_link(&root, token_of(&late), 1061), None, "expired");
        assert_eq!(redeem_link(&root, "../../paas.toml", 1000), None);
        // Only the hash is on disk.
        let stored: Vec<_> = fs::read_dir(links_dir(&root)).unwrap().collect();
        assert!(stored.is_empty(), "taken links leave no file");
        let kept = issue_link(&root, &settings, holder(), None, 1000).unwrap();
        let names: Vec<String> = fs::read_dir(links_dir(&root))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1);
        assert_ne!(names[0], token_of(&kept));
    }

    #[test]
    fn a_session_ends_after_twelve_idle_hours() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let (id, started) = start_session(&root, holder(), false, 1000).unwrap();
        assert_eq!(started.csrf.len(), 64);
        let seen = session(&root, &id, 1000 + 3600).unwrap();
        assert_eq!(seen.holder, holder());
        // Touched at the last request: idle time counts from there.
        assert!(session(&root, &id, 1000 + 3600 + SESSION_IDLE_SECS).is_some());
        assert!(session(&root, &id, 1000 + 3600 + 2 * SESSION_IDLE_SECS + 1).is_none());
        assert!(
            session(&root, &id, 1000).is_none(),
            "an ended session is gone"
        );
        assert!(session(&root, "not-a-session", 1000).is_none());

        let (id, _) = start_session(&root, holder(), false, 1000).unwrap();
        end_session(&root, &id);
        assert!(session(&root, &id, 1001).is_none(), "logged out");
    }

    #[test]
    fn a_request_notes_its_time_without_writing_the_session_anew() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let (id, _) = start_session(&root, holder(), false, 1000).unwrap();
        let path = sessions_dir(&root).join(file_name(&id).unwrap());
        let before = fs::metadata(&path).unwrap();
        assert_eq!(before.mtime(), 1000);
        assert_eq!(session(&root, &id, 1000 + 600).unwrap().last_seen, 1600);
        let after = fs::metadata(&path).unwrap();
        // The same file, its time moved: a logout removing it meanwhile
        // is not undone by a rename over it.
        assert_eq!((after.ino(), after.mtime()), (before.ino(), 1600));
        assert_eq!(session(&root, &id, 1630).unwrap().last_seen, 1600);
    }

    #[test]
    fn the_url_follows_the_routers_ports() {
        let mut settings = Settings::example();
        settings.http_port = 8080;
        assert_eq!(
            dashboard_url(&settings, true),
            "http://paas.example.com:8080/"
        );
        settings.https_port = Some(443);
        assert_eq!(dashboard_url(&settings, true), "https://paas.example.com/");
        // No certificate covers it: the handshake would fail.
        assert_eq!(
            dashboard_url(&settings, false),
            "http://paas.example.com:8080/"
        );
        // The router sends plain HTTP to HTTPS then, wherever it runs.
        settings.local = true;
        settings.https_port = Some(8443);
        assert_eq!(
            dashboard_url(&settings, true),
            "https://paas.example.com:8443/"
        );
    }
}
