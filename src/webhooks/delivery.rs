//! Deliveries: one event on its way to one webhook. `enqueue` writes it
//! into the webhook's queue; the daemon calls `send_due` for each webhook
//! with a queue, which POSTs what is due in the order the events were
//! made, signed (`sign`). A `sync` webhook's delivery that fails is tried
//! again with backoff (`next_attempt`) until an hour after its event, and
//! those queued behind it wait, so a receiver gets events in order; a
//! `notify` one is tried once. Finished, a delivery moves out of the queue
//! among the finished ones, of which the last `KEEP` are kept.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::header::{self, HeaderValue};
use rustls::ClientConfig;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use super::events::Event;
use super::{Level, Webhook};
use crate::error::{Context, Error, Result};
use crate::net::{self, HttpTarget, Reach, Timeouts};
use crate::state::{self, AppDir, Root};

/// Finished deliveries kept per webhook.
pub const KEEP: usize = 100;
/// How long a `sync` delivery is tried, from its event.
pub const WINDOW_SECS: i64 = 3600;
/// The wait before the first retry, doubled after each failure up to
/// `MAX_BACKOFF_SECS`.
const FIRST_BACKOFF_SECS: i64 = 15;
const MAX_BACKOFF_SECS: i64 = 600;
/// The most one attempt may take, connecting included: a receiver that
/// never answers holds up its own webhook's queue this long, no other.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(10);
/// The header that carries the signature, as Heroku names it.
pub const SIGNATURE_HEADER: &str = "Heroku-Webhook-Hmac-SHA256";

/// One delivery, as stored (`<id>.json`, 0600).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Delivery {
    pub id: String,
    /// The webhook's id.
    pub webhook: String,
    /// The webhook's level when the event was made.
    pub level: Level,
    pub created_at: String,
    pub updated_at: String,
    pub status: Status,
    pub num_attempts: u32,
    /// When it is tried next, while it is queued (RFC 3339).
    #[serde(default)]
    pub next_attempt_at: Option<String>,
    #[serde(default)]
    pub last_attempt: Option<Attempt>,
    pub event: Event,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not tried yet.
    Pending,
    /// Failed, and to be tried again at `next_attempt_at`.
    Retrying,
    Succeeded,
    /// Failed for good: tried once (`notify`) or for an hour (`sync`).
    Failed,
}

impl Status {
    pub const NAMES: [&'static str; 4] = ["pending", "retrying", "succeeded", "failed"];

    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Retrying => "retrying",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }

    fn finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed)
    }
}

/// One attempt: the receiver's status code, or why there was none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    pub id: String,
    /// `succeeded` or `failed`.
    pub status: Status,
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    pub created_at: String,
}

pub(super) fn queue_dir(app: &AppDir, webhook: &str) -> PathBuf {
    app.path.join("webhooks").join(webhook).join("queue")
}

pub(super) fn finished_dir(app: &AppDir, webhook: &str) -> PathBuf {
    app.path.join("webhooks").join(webhook).join("deliveries")
}

/// Unix seconds as RFC 3339, as records store times.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Queues `event` for `webhook`: one new file, written whole.
pub fn enqueue(app: &AppDir, webhook: &Webhook, event: &Event) -> Result<()> {
    let delivery = Delivery {
        id: super::new_id(),
        webhook: webhook.id.clone(),
        level: webhook.level,
        created_at: event.created_at.clone(),
        updated_at: event.created_at.clone(),
        status: Status::Pending,
        num_attempts: 0,
        next_attempt_at: Some(event.created_at.clone()),
        last_attempt: None,
        event: event.clone(),
    };
    let path = queue_dir(app, &webhook.id).join(format!("{}.json", delivery.id));
    state::write_new(&path, &encode(&delivery)?, 0o600)?;
    Ok(())
}

fn encode(delivery: &Delivery) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(delivery)
        .map_err(|err| Error::unexpected("encoding a delivery").cause(err))
}

/// The deliveries in `dir`, oldest first (ids sort by time).
fn read_dir(dir: &Path) -> Vec<Delivery> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && !name.starts_with('.'))
        .collect();
    names.sort();
    names
        .iter()
        .filter_map(|name| fs::read(dir.join(name)).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect()
}

/// A webhook's deliveries, finished and queued, oldest first.
pub fn list(app: &AppDir, webhook: &Webhook) -> Vec<Delivery> {
    let mut all = read_dir(&finished_dir(app, &webhook.id));
    all.extend(read_dir(&queue_dir(app, &webhook.id)));
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all
}

/// The delivery `id` names, among all the app's webhooks'.
pub fn find(app: &AppDir, id: &str) -> Result<Delivery> {
    for webhook in super::list(app)? {
        if let Some(found) = list(app, &webhook).into_iter().find(|d| d.id == id) {
            return Ok(found);
        }
    }
    Err(Error::new(format!(
        "`{}` has no delivery `{}`",
        app.name,
        crate::error::quoted(id, crate::error::QUOTED_INPUT)
    ))
    .hint(format!(
        "`paas webhooks:deliveries -a {}` lists the last ones",
        app.name
    )))
}

/// Every webhook, of every app, with deliveries queued: (app, webhook id).
pub fn queued(root: &Root) -> Vec<(AppDir, String)> {
    let mut found = Vec::new();
    for name in root.apps().unwrap_or_default() {
        let app = root.app(&name);
        let Ok(webhooks) = fs::read_dir(app.path.join("webhooks")) else {
            continue;
        };
        for entry in webhooks.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let has_queue = fs::read_dir(queue_dir(&app, &id)).is_ok_and(|mut entries| {
                entries.any(|e| e.is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.')))
            });
            if super::is_id(&id) && has_queue {
                found.push((app.clone(), id));
            }
        }
    }
    found
}

/// When a `sync` delivery whose event was at `created` is tried again
/// after failing its `attempts`th attempt at `now`: 15 s, then twice as
/// long each time up to 10 minutes, the last at the end of the hour;
/// `None` once the hour is over.
pub fn next_attempt(created: i64, attempts: u32, now: i64) -> Option<i64> {
    let deadline = created + WINDOW_SECS;
    if now >= deadline {
        return None;
    }
    let doublings = attempts.saturating_sub(1).min(16);
    let backoff = (FIRST_BACKOFF_SECS << doublings).min(MAX_BACKOFF_SECS);
    Some((now + backoff).min(deadline))
}

/// Base64 of the HMAC-SHA256 of `body` keyed with `secret`: what
/// `Heroku-Webhook-Hmac-SHA256` carries, for the receiver to check.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The body POSTed for one attempt, in the shape of Heroku's app webhook
/// payloads.
pub fn payload(delivery: &Delivery, attempt: &str, published_at: &str) -> Vec<u8> {
    let event = &delivery.event;
    let body = json!({
        "id": event.id,
        "created_at": event.created_at,
        "updated_at": event.created_at,
        "published_at": published_at,
        "resource": event.resource,
        "action": event.action,
        "actor": event.actor,
        "previous_data": event.previous_data,
        "data": event.data,
        "version": "application/vnd.heroku+json; version=3",
        "sequence": null,
        "webhook_metadata": {
            "attempt": {"id": attempt},
            "delivery": {"id": delivery.id},
            "event": {"id": event.id, "include": event.include},
            "webhook": {"id": delivery.webhook},
        },
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Sends what is due in one webhook's queue, oldest first, and records
/// how each went. Runs on a thread of its own (the daemon's), for as long
/// as the attempts take. `reach`: where the install lets webhooks go
/// (`Settings::url_reach`).
pub fn send_due(app: &AppDir, webhook_id: &str, reach: Reach) {
    let file = app
        .path
        .join("webhooks")
        .join(webhook_id)
        .join("webhook.toml");
    let Ok(webhook) = state::read_toml::<Webhook>(&file) else {
        return;
    };
    let mut sender = Sender::new(&webhook, reach);
    let queue = read_dir(&queue_dir(app, webhook_id));
    for (at, mut delivery) in queue.clone().into_iter().enumerate() {
        let due = delivery
            .next_attempt_at
            .as_deref()
            .and_then(crate::clock::rfc3339_to_unix)
            .is_none_or(|next| next <= now());
        // Those behind one that waits to be tried again wait too: in order.
        if !due {
            break;
        }
        let attempt = sender.attempt(&delivery);
        settle(&mut delivery, attempt, now());
        let failed = delivery.status != Status::Succeeded;
        if let Err(err) = store(app, &delivery) {
            eprintln!(
                "paas daemon: {}: webhook {webhook_id}: {}",
                app.name,
                err.report().trim_end()
            );
            return;
        }
        if failed && delivery.level == Level::Sync {
            expire(app, &queue[at + 1..], now());
            break;
        }
    }
    prune(app, webhook_id);
}

/// Records an attempt's outcome: succeeded, retrying or failed.
fn settle(delivery: &mut Delivery, attempt: Attempt, now: i64) {
    delivery.num_attempts += 1;
    delivery.updated_at = rfc3339(now);
    let created = crate::clock::rfc3339_to_unix(&delivery.created_at).unwrap_or(now);
    let next = match (attempt.status, delivery.level) {
        (Status::Succeeded, _) | (_, Level::Notify) => None,
        (_, Level::Sync) => next_attempt(created, delivery.num_attempts, now),
    };
    delivery.status = match (attempt.status, next) {
        (Status::Succeeded, _) => Status::Succeeded,
        (_, Some(_)) => Status::Retrying,
        (_, None) => Status::Failed,
    };
    delivery.next_attempt_at = next.map(rfc3339);
    delivery.last_attempt = Some(attempt);
}

/// Fails, untried, the deliveries behind a failing one whose hour is over.
fn expire(app: &AppDir, waiting: &[Delivery], now: i64) {
    for delivery in waiting {
        let created = crate::clock::rfc3339_to_unix(&delivery.created_at).unwrap_or(now);
        if created + WINDOW_SECS > now {
            continue;
        }
        let mut delivery = delivery.clone();
        delivery.status = Status::Failed;
        delivery.next_attempt_at = None;
        delivery.updated_at = rfc3339(now);
        delivery.last_attempt = Some(Attempt {
            id: super::new_id(),
            status: Status::Failed,
            code: None,
            error: Some("not sent within the hour: the deliveries before it were failing".into()),
            created_at: rfc3339(now),
        });
        let _ = store(app, &delivery);
    }
}

/// Writes a delivery back into the queue; a finished one then moves (one
/// rename) among the finished deliveries.
fn store(app: &AppDir, delivery: &Delivery) -> Result<()> {
    let name = format!("{}.json", delivery.id);
    let queued = queue_dir(app, &delivery.webhook).join(&name);
    state::write_atomic(&queued, &encode(delivery)?, 0o600)?;
    if delivery.status.finished() {
        let finished = finished_dir(app, &delivery.webhook);
        fs::rename(&queued, finished.join(&name)).context(|| {
            format!(
                "moving `{}` among the finished deliveries",
                queued.display()
            )
        })?;
        state::sync_dir(&finished)?;
        state::sync_dir(&queue_dir(app, &delivery.webhook))?;
    }
    Ok(())
}

/// Forgets the oldest finished deliveries past `KEEP`.
fn prune(app: &AppDir, webhook: &str) {
    let dir = finished_dir(app, webhook);
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && !name.starts_with('.'))
        .collect();
    names.sort();
    let extra = names.len().saturating_sub(KEEP);
    for name in &names[..extra] {
        let _ = fs::remove_file(dir.join(name));
    }
}

/// What one pass over a webhook's queue sends with: its target, and a
/// runtime and TLS settings made at the first attempt.
struct Sender<'a> {
    webhook: &'a Webhook,
    /// Whether the install lets webhooks go into the server's own network.
    reach: Reach,
    runtime: Option<tokio::runtime::Runtime>,
    tls: Option<Arc<ClientConfig>>,
}

impl<'a> Sender<'a> {
    fn new(webhook: &'a Webhook, reach: Reach) -> Sender<'a> {
        Sender {
            webhook,
            reach,
            runtime: None,
            tls: None,
        }
    }

    /// POSTs the delivery's payload once, signed.
    fn attempt(&mut self, delivery: &Delivery) -> Attempt {
        let id = super::new_id();
        let created_at = rfc3339(now());
        let (code, error) = match self.post(delivery, &id, &created_at) {
            Ok(code) if (200..300).contains(&code) => (Some(code), None),
            Ok(code) => (Some(code), Some(format!("the receiver answered {code}"))),
            Err(err) => (None, Some(err)),
        };
        Attempt {
            id,
            status: match error {
                None => Status::Succeeded,
                Some(_) => Status::Failed,
            },
            code,
            error,
            created_at,
        }
    }

    fn post(&mut self, delivery: &Delivery, attempt: &str, at: &str) -> Result<u16, String> {
        let target = self
            .webhook
            .target()
            .map_err(|err| err.message().to_string())?;
        if target.tls && self.tls.is_none() {
            self.tls = Some(crate::tls::client_config()?);
        }
        if self.runtime.is_none() {
            self.runtime = Some(net::runtime().map_err(|err| err.to_string())?);
        }
        let body = payload(delivery, attempt, at);
        let signature = sign(&self.webhook.secret, &body);
        let exchange = post(
            &target,
            self.reach,
            self.tls.as_ref(),
            self.webhook.authorization.as_deref(),
            body,
            signature,
        );
        let runtime = self.runtime.as_ref().expect("made above");
        runtime
            .block_on(net::within(ATTEMPT_LIMIT, exchange))
            .map_err(|err| err.to_string())
    }
}

async fn post(
    target: &HttpTarget,
    reach: Reach,
    tls: Option<&Arc<ClientConfig>>,
    authorization: Option<&str>,
    body: Vec<u8>,
    signature: String,
) -> Result<u16, net::Error> {
    // Checked at each delivery where the name leads then (it may resolve
    // elsewhere than when the webhook was added), on the addresses
    // connected to.
    let stream = net::connect(
        &target.host,
        target.port,
        reach,
        target.tls,
        tls,
        Timeouts::BRIEF,
    )
    .await
    .map_err(|err| match err {
        net::Error::Refused(_) => net::Error::Other(format!("not sent: {err}")),
        err => err,
    })?;
    let mut connection = net::Connection::open(stream).await?;
    let mut request = net::request(hyper::Method::POST, target, "paas-webhooks")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .header(SIGNATURE_HEADER, signature)
        .header(header::CONNECTION, "close")
        .body(Bytes::from(body))?;
    // The webhook's own `--authorization` over the URL's credentials.
    if let Some(value) = authorization {
        let value = HeaderValue::from_str(value)
            .map_err(|_| net::Error::Other("the authorization is not a header value".into()))?;
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    Ok(connection.send(request, 64 * 1024).await?.status())
}

#[cfg(test)]
mod tests;
