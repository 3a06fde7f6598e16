//! Deploy webhooks (#22 point 4), as Heroku's app webhooks: each of an
//! app's webhooks names a URL and the kinds of event it wants
//! (`api:build`, `api:release`, `dyno`); every such event is POSTed to it
//! as JSON (`resource`, `action`, `data`, `webhook_metadata`…), signed with
//! HMAC-SHA256 of the body in `Heroku-Webhook-Hmac-SHA256`.
//!
//! Nothing here slows what makes the events: `events.rs` only writes a
//! small file per webhook into that webhook's queue. The daemon sends them
//! (`delivery.rs`), retrying with backoff for up to an hour, and keeps the
//! last deliveries with how they went. Under the app's directory
//! (docs/state.md):
//!
//! ```text
//! webhooks/<id>/webhook.toml            url, include, level, secret (0600)
//! webhooks/<id>/queue/<delivery>.json   deliveries not finished: pending, retrying
//! webhooks/<id>/deliveries/<delivery>.json   finished ones, the last `delivery::KEEP`
//! ```
//!
//! Webhooks are changed by commands under the app's lock; the daemon only
//! reads them, so a webhook removed while a delivery is under way takes
//! its queue with it and that delivery's record goes nowhere.

pub mod delivery;
pub mod events;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::net::HttpTarget;
use crate::state::{self, AppDir};

pub use events::{BuildFacts, DynoFacts};

/// The kinds of event paas sends, as `--include` names them, and the
/// `resource` their payloads carry.
pub const KINDS: [(&str, &str); 3] = [
    ("api:build", "build"),
    ("api:release", "release"),
    ("dyno", "dyno"),
];

/// One webhook, as stored (`webhook.toml`, 0600: it holds the secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// What it receives: names from `KINDS`.
    pub include: Vec<String>,
    pub level: Level,
    /// Signs every delivery; never shown after `webhooks:add`.
    pub secret: String,
    /// Sent as the `Authorization` header, when set; never shown either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// How hard a delivery is tried (Heroku's `level`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Once: a receiver that is down misses the event.
    Notify,
    /// Again with backoff, for up to an hour from the event.
    Sync,
}

impl Level {
    pub fn parse(text: &str) -> Result<Level> {
        match text {
            "notify" => Ok(Level::Notify),
            "sync" => Ok(Level::Sync),
            _ => Err(Error::new(format!("`{text}` is not a webhook level"))
                .hint("use `sync` (retried for up to an hour) or `notify` (tried once)")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Level::Notify => "notify",
            Level::Sync => "sync",
        }
    }
}

impl Webhook {
    pub fn includes(&self, kind: &str) -> bool {
        self.include.iter().any(|k| k == kind)
    }

    /// Where deliveries go; checked when the webhook was added.
    pub fn target(&self) -> Result<HttpTarget> {
        check_url(&self.url)
    }
}

/// Parses `--include`: comma-separated kinds from `KINDS` (Heroku's
/// `api:dyno` is taken for `dyno`), each once, in `KINDS`'s order.
pub fn parse_include(text: &str) -> Result<Vec<String>> {
    let mut wanted = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let word = if word == "api:dyno" { "dyno" } else { word };
        if !KINDS.iter().any(|(kind, _)| *kind == word) {
            return Err(Error::new(format!(
                "`{}` is not an event paas sends",
                crate::error::quoted(word, crate::error::QUOTED_INPUT)
            ))
            .hint(kinds_hint()));
        }
        wanted.push(word.to_string());
    }
    if wanted.is_empty() {
        return Err(Error::new("`--include` names no events").hint(kinds_hint()));
    }
    Ok(KINDS
        .iter()
        .map(|(kind, _)| kind.to_string())
        .filter(|kind| wanted.contains(kind))
        .collect())
}

fn kinds_hint() -> String {
    let names: Vec<&str> = KINDS.iter().map(|(kind, _)| *kind).collect();
    format!(
        "name one or more of {}, separated by commas",
        names.join(", ")
    )
}

/// Checks a receiver's URL: `http://` or `https://`, parsed as the
/// outgoing client parses it.
pub fn check_url(url: &str) -> Result<HttpTarget> {
    HttpTarget::parse(url).map_err(|err| {
        Error::new(format!("not a webhook URL: {err}"))
            .hint("give the receiver's `https://` (or `http://`) URL")
    })
}

/// Checks a receiver's URL (`check_url`) and, unless the install allows
/// it (`server install --allow-private-urls yes`), that its host is not
/// in the server's own network. A name that does not resolve now passes:
/// each delivery checks again where it leads then (`delivery::post`), as
/// DNS may change.
pub fn check_receiver(url: &str, settings: &crate::state::Settings) -> Result<HttpTarget> {
    let target = check_url(url)?;
    match settings.url_reach().refuses_now(&target.host, target.port) {
        Some(refused) => Err(refused.command_error("sends webhooks")),
        None => Ok(target),
    }
}

/// Checks an `--authorization` value: it must fit in a header.
pub fn check_authorization(value: &str) -> Result<()> {
    match hyper::header::HeaderValue::from_str(value) {
        Ok(_) if !value.trim().is_empty() => Ok(()),
        _ => Err(
            Error::new("`--authorization` must be one line of visible text")
                .hint("such as `--authorization \"Bearer 9266671b2767f804c9d5809c2d384ed5\"`"),
        ),
    }
}

/// A new secret: 32 bytes from the kernel, in hex.
pub fn new_secret() -> Result<String> {
    crate::random::hex(32)
}

/// A new id: a UUID (version 7, RFC 9562), so ids sort in the order they
/// were made and a queue read in name order is oldest first.
pub fn new_id() -> String {
    let nanos = time::OffsetDateTime::now_utc()
        .unix_timestamp_nanos()
        .max(0) as u128;
    let millis = (nanos / 1_000_000) as u64;
    // The 12 bits after the milliseconds: the fraction of the millisecond
    // (RFC 9562's method 3), so ids made in one millisecond keep order too.
    let fraction = ((nanos % 1_000_000) * 4096 / 1_000_000) as u16;
    let random: [u8; 8] = state::random_bytes();
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6] = 0x70 | (fraction >> 8) as u8;
    bytes[7] = fraction as u8;
    bytes[8..].copy_from_slice(&random);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `text` has the shape of the ids `new_id` makes (a path part).
fn is_id(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

fn dir(app: &AppDir) -> PathBuf {
    app.path.join("webhooks")
}

fn webhook_dir(app: &AppDir, id: &str) -> PathBuf {
    dir(app).join(id)
}

fn webhook_file(app: &AppDir, id: &str) -> PathBuf {
    webhook_dir(app, id).join("webhook.toml")
}

/// The app's webhooks, oldest first; none when it has none.
pub fn list(app: &AppDir) -> Result<Vec<Webhook>> {
    let entries = match std::fs::read_dir(dir(app)) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).context(|| format!("listing `{}`", dir(app).display())),
    };
    let mut webhooks = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // A webhook being added is there once its file is.
        if is_id(&name) && webhook_file(app, &name).exists() {
            webhooks.push(state::read_toml::<Webhook>(&webhook_file(app, &name))?);
        }
    }
    webhooks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(webhooks)
}

/// The webhook `id` names: its whole id, or enough of its start to name
/// only one.
pub fn find(app: &AppDir, id: &str) -> Result<Webhook> {
    let webhooks = list(app)?;
    let matching: Vec<Webhook> = webhooks
        .into_iter()
        .filter(|w| !id.is_empty() && w.id.starts_with(&id.to_ascii_lowercase()))
        .collect();
    match matching.len() {
        1 => Ok(matching.into_iter().next().expect("one")),
        0 => Err(Error::new(format!(
            "`{}` has no webhook `{}`",
            app.name,
            crate::error::quoted(id, crate::error::QUOTED_INPUT)
        ))
        .hint(format!("`paas webhooks -a {}` lists them", app.name))),
        _ => Err(
            Error::new(format!("`{id}` is the start of more than one webhook's id"))
                .hint("give more of it, or all of it"),
        ),
    }
}

/// Records a new webhook or a changed one. The caller holds the app's lock.
pub fn save(app: &AppDir, webhook: &Webhook) -> Result<()> {
    state::create_dir(&dir(app), 0o700)?;
    state::create_dir(&delivery::queue_dir(app, &webhook.id), 0o700)?;
    state::create_dir(&delivery::finished_dir(app, &webhook.id), 0o700)?;
    state::write_toml(&webhook_file(app, &webhook.id), webhook, 0o600)
}

/// Removes a webhook with its queue and its deliveries. The caller holds
/// the app's lock.
pub fn remove(app: &AppDir, webhook: &Webhook) -> Result<()> {
    state::remove_dir_whole(&webhook_dir(app, &webhook.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_takes_the_kinds_paas_sends_and_nothing_else() {
        assert_eq!(
            parse_include("dyno, api:release,api:build,dyno").unwrap(),
            ["api:build", "api:release", "dyno"]
        );
        assert_eq!(parse_include("api:dyno").unwrap(), ["dyno"]);
        let err = parse_include("api:release,api:formation").unwrap_err();
        assert_eq!(err.message(), "`api:formation` is not an event paas sends");
        assert!(err
            .report()
            .contains("name one or more of api:build, api:release, dyno"));
        assert_eq!(
            parse_include(" , ").unwrap_err().message(),
            "`--include` names no events"
        );
    }

    #[test]
    fn receivers_are_http_or_https_urls() {
        let target = check_url("https://hooks.example.com/paas?x=1").unwrap();
        assert_eq!((target.port, target.tls), (443, true));
        assert!(check_url("ftp://hooks.example.com")
            .unwrap_err()
            .message()
            .starts_with(
                "not a webhook URL: `ftp://hooks.example.com` is not an http:// or https:// URL"
            ));
        assert!(check_url("https://a b/").is_err());
        assert!(check_authorization("Bearer abc").is_ok());
        assert!(check_authorization("Bearer\nX-Injected: 1").is_err());
        assert!(check_authorization(" ").is_err());
    }

    #[test]
    fn ids_are_uuids_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..50).map(|_| new_id()).collect();
        for id in &ids {
            assert!(is_id(id), "{id}");
            assert_eq!(&id[14..15], "7", "version 7: {id}");
            assert!("89ab".contains(&id[19..20]), "RFC 9562 variant: {id}");
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        assert!(!is_id("../../etc"));
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 64);
        assert_ne!(secret, new_secret().unwrap());
    }

    #[test]
    fn webhooks_are_found_by_their_id_or_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let app =
            crate::state::Root::new(dir.path()).app(&crate::state::AppName::parse("web").unwrap());
        assert!(list(&app).unwrap().is_empty());
        let webhook = Webhook {
            id: new_id(),
            url: "http://127.0.0.1:9/".into(),
            include: vec!["dyno".into()],
            level: Level::Sync,
            secret: "s".into(),
            authorization: None,
            created_at: crate::release::now_rfc3339(),
            updated_at: crate::release::now_rfc3339(),
        };
        save(&app, &webhook).unwrap();
        assert_eq!(list(&app).unwrap(), std::slice::from_ref(&webhook));
        assert_eq!(find(&app, &webhook.id[..8]).unwrap(), webhook);
        assert_eq!(
            find(&app, "nope").unwrap_err().message(),
            "`web` has no webhook `nope`"
        );
        remove(&app, &webhook).unwrap();
        assert!(list(&app).unwrap().is_empty());
    }
}
