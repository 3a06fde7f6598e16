//! `webhooks`, `webhooks:add`, `:info`, `:update`, `:remove`,
//! `webhooks:deliveries` and `:deliveries:info`: the app's deploy webhooks
//! (`crate::webhooks`), as Heroku's CLI shows them. The daemon sends the
//! deliveries; secrets are shown once, when `webhooks:add` makes one.

use super::{heroku_time_from_rfc3339, Ctx};
use crate::audit::redact_url;
use crate::cli::{Format, WebhooksCommand};
use crate::error::{Error, Result};
use crate::logs;
use crate::output;
use crate::release::now_rfc3339;
use crate::webhooks::delivery::{self, Delivery, Status};
use crate::webhooks::{self, Level, Webhook};

/// What `webhooks:add` or `webhooks:update` was given.
pub struct Given {
    pub include: Option<String>,
    pub url: Option<String>,
    pub level: Option<String>,
    pub secret: Option<String>,
    pub authorization: Option<String>,
}

/// One row of `webhooks --json`: never the secret or the authorization.
#[derive(serde::Serialize)]
struct WebhookJson<'a> {
    id: &'a str,
    url: String,
    include: &'a [String],
    level: &'static str,
    created_at: &'a str,
    updated_at: &'a str,
}

/// The URL as shown to those who may see the app (`webhooks`, `:info`,
/// what `:add` says): its password not, its query yes. They may read the
/// app's config vars, secrets alike, and need the URL to tell receivers
/// apart; Heroku shows it whole.
fn shown_url(url: &str) -> String {
    redact_url(url, true)
}

/// The URL as the app's log keeps it: no credentials, no query. The log
/// goes to `paas logs`, to drains and into files kept for days.
fn logged_url(url: &str) -> String {
    redact_url(url, false)
}

/// Runs a `webhooks` command.
pub fn run(ctx: &Ctx, command: WebhooksCommand) -> Result<()> {
    match command {
        WebhooksCommand::List { format } => list(ctx, format),
        WebhooksCommand::Add {
            include,
            url,
            level,
            secret,
            authorization,
        } => add(
            ctx,
            Given {
                include: Some(include),
                url: Some(url),
                level: Some(level),
                secret,
                authorization,
            },
        ),
        WebhooksCommand::Info { id } => info(ctx, &id),
        WebhooksCommand::Update {
            id,
            include,
            url,
            level,
            secret,
            authorization,
        } => update(
            ctx,
            &id,
            Given {
                include,
                url,
                level,
                secret,
                authorization,
            },
        ),
        WebhooksCommand::Remove { id } => remove(ctx, &id),
        WebhooksCommand::Deliveries { status, format } => {
            deliveries(ctx, status.as_deref(), format)
        }
        WebhooksCommand::DeliveriesInfo { id } => delivery_info(ctx, &id),
    }
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let hooks = webhooks::list(&app)?;
    if format.json {
        let rows: Vec<WebhookJson> = hooks
            .iter()
            .map(|w| WebhookJson {
                id: &w.id,
                url: shown_url(&w.url),
                include: &w.include,
                level: w.level.name(),
                created_at: &w.created_at,
                updated_at: &w.updated_at,
            })
            .collect();
        return output::print_json(&rows);
    }
    output::header(&format!("{} Webhooks", app.name));
    if hooks.is_empty() {
        println!(
            "`{0}` has no webhooks: `paas webhooks:add -i api:release -u URL -a {0}` adds one.",
            app.name
        );
        return Ok(());
    }
    let mut rows = vec![vec![
        "Webhook ID".to_string(),
        "URL".into(),
        "Include".into(),
        "Level".into(),
    ]];
    for hook in &hooks {
        rows.push(vec![
            hook.id.clone(),
            shown_url(&hook.url),
            hook.include.join(","),
            hook.level.name().into(),
        ]);
    }
    output::table(&rows);
    Ok(())
}

/// The secret given, checked; `None` when none was.
fn given_secret(secret: Option<String>) -> Result<Option<String>> {
    match secret {
        Some(secret) if secret.trim().is_empty() => {
            Err(Error::new("`--secret` is empty")
                .hint("leave it out and paas makes one, shown once"))
        }
        other => Ok(other),
    }
}

pub fn add(ctx: &Ctx, given: Given) -> Result<()> {
    let app = ctx.app()?;
    let include = webhooks::parse_include(given.include.as_deref().unwrap_or_default())?;
    let url = given.url.unwrap_or_default();
    webhooks::check_receiver(&url, &ctx.settings)?;
    let level = Level::parse(given.level.as_deref().unwrap_or("sync"))?;
    if let Some(value) = &given.authorization {
        webhooks::check_authorization(value)?;
    }
    let (secret, made) = match given_secret(given.secret)? {
        Some(secret) => (secret, false),
        None => (webhooks::new_secret()?, true),
    };
    let _lock = app.lock()?;
    let now = now_rfc3339();
    let webhook = Webhook {
        id: webhooks::new_id(),
        url,
        include,
        level,
        secret,
        authorization: given.authorization,
        created_at: now.clone(),
        updated_at: now,
    };
    webhooks::save(&app, &webhook)?;
    logs::platform(
        &app,
        "api",
        &format!(
            "Add webhook {} to {} by {}",
            webhook.id,
            logged_url(&webhook.url),
            ctx.user
        ),
    );
    say!(
        "Added webhook {} to {}: {} to {} ({})",
        webhook.id,
        app.name,
        webhook.include.join(","),
        shown_url(&webhook.url),
        webhook.level.name()
    );
    if made {
        output::header("Webhooks Signing Secret");
        println!("{}", webhook.secret);
        say!("Keep it: deliveries carry its HMAC-SHA256 of their body in `Heroku-Webhook-Hmac-SHA256`, and paas never shows it again");
    }
    Ok(())
}

pub fn info(ctx: &Ctx, id: &str) -> Result<()> {
    let app = ctx.app()?;
    let hook = webhooks::find(&app, id)?;
    let deliveries = delivery::list(&app, &hook);
    let queued = deliveries.iter().filter(|d| !finished(d)).count();
    output::header(&hook.id);
    println!("Webhook ID:     {}", hook.id);
    println!("URL:            {}", shown_url(&hook.url));
    println!("Include:        {}", hook.include.join(","));
    println!("Level:          {}", hook.level.name());
    println!(
        "Authorization:  {}",
        if hook.authorization.is_some() {
            "set"
        } else {
            "none"
        }
    );
    println!(
        "Created:        {}",
        heroku_time_from_rfc3339(&hook.created_at)
    );
    println!(
        "Updated:        {}",
        heroku_time_from_rfc3339(&hook.updated_at)
    );
    println!(
        "Deliveries:     {} kept, {queued} waiting",
        deliveries.len() - queued
    );
    Ok(())
}

fn finished(delivery: &Delivery) -> bool {
    matches!(delivery.status, Status::Succeeded | Status::Failed)
}

pub fn update(ctx: &Ctx, id: &str, given: Given) -> Result<()> {
    let app = ctx.app()?;
    let include = given
        .include
        .as_deref()
        .map(webhooks::parse_include)
        .transpose()?;
    if let Some(url) = &given.url {
        webhooks::check_receiver(url, &ctx.settings)?;
    }
    let level = given.level.as_deref().map(Level::parse).transpose()?;
    if let Some(value) = &given.authorization {
        webhooks::check_authorization(value)?;
    }
    let secret = given_secret(given.secret)?;
    let nothing = include.is_none()
        && given.url.is_none()
        && level.is_none()
        && secret.is_none()
        && given.authorization.is_none();
    if nothing {
        return Err(Error::new("nothing to change").hint(
            "give what changes: `--include`, `--url`, `--level`, `--secret` or `--authorization`",
        ));
    }
    let _lock = app.lock()?;
    let mut hook = webhooks::find(&app, id)?;
    if let Some(include) = include {
        hook.include = include;
    }
    if let Some(url) = given.url {
        hook.url = url;
    }
    if let Some(level) = level {
        hook.level = level;
    }
    if let Some(secret) = secret {
        hook.secret = secret;
    }
    if let Some(authorization) = given.authorization {
        hook.authorization = Some(authorization);
    }
    hook.updated_at = now_rfc3339();
    webhooks::save(&app, &hook)?;
    logs::platform(
        &app,
        "api",
        &format!("Update webhook {} by {}", hook.id, ctx.user),
    );
    say!("Updated webhook {} of {}", hook.id, app.name);
    Ok(())
}

pub fn remove(ctx: &Ctx, id: &str) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let hook = webhooks::find(&app, id)?;
    webhooks::remove(&app, &hook)?;
    logs::platform(
        &app,
        "api",
        &format!("Remove webhook {} by {}", hook.id, ctx.user),
    );
    say!("Removed webhook {} from {}", hook.id, app.name);
    Ok(())
}

/// One row of `webhooks:deliveries --json`, in the shape of Heroku's
/// webhook deliveries.
#[derive(serde::Serialize)]
struct DeliveryJson<'a> {
    id: &'a str,
    created_at: &'a str,
    updated_at: &'a str,
    status: &'static str,
    num_attempts: u32,
    next_attempt_at: Option<&'a str>,
    last_attempt: Option<AttemptJson<'a>>,
    event: EventJson<'a>,
    webhook: WebhookRef<'a>,
}

#[derive(serde::Serialize)]
struct AttemptJson<'a> {
    id: &'a str,
    status: &'static str,
    code: Option<u16>,
    error_class: Option<&'a str>,
    created_at: &'a str,
}

#[derive(serde::Serialize)]
struct EventJson<'a> {
    id: &'a str,
    include: &'a str,
    action: &'a str,
}

#[derive(serde::Serialize)]
struct WebhookRef<'a> {
    id: &'a str,
    level: &'static str,
}

fn delivery_json(d: &Delivery) -> DeliveryJson<'_> {
    DeliveryJson {
        id: &d.id,
        created_at: &d.created_at,
        updated_at: &d.updated_at,
        status: d.status.name(),
        num_attempts: d.num_attempts,
        next_attempt_at: d.next_attempt_at.as_deref(),
        last_attempt: d.last_attempt.as_ref().map(|a| AttemptJson {
            id: &a.id,
            status: a.status.name(),
            code: a.code,
            error_class: a.error.as_deref(),
            created_at: &a.created_at,
        }),
        event: EventJson {
            id: &d.event.id,
            include: &d.event.include,
            action: &d.event.action,
        },
        webhook: WebhookRef {
            id: &d.webhook,
            level: d.level.name(),
        },
    }
}

pub fn deliveries(ctx: &Ctx, status: Option<&str>, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let mut all: Vec<Delivery> = Vec::new();
    for hook in webhooks::list(&app)? {
        all.extend(delivery::list(&app, &hook));
    }
    all.retain(|d| status.is_none_or(|s| d.status.name() == s));
    all.sort_by(|a, b| a.id.cmp(&b.id));
    if format.json {
        let rows: Vec<DeliveryJson> = all.iter().map(delivery_json).collect();
        return output::print_json(&rows);
    }
    output::header(&format!("{} Webhook Deliveries", app.name));
    if all.is_empty() {
        match status {
            Some(status) => println!("None {status}."),
            None => {
                println!("None yet: events go to webhooks as builds, releases and dynos change.")
            }
        }
        return Ok(());
    }
    let mut rows = vec![vec![
        "Delivery ID".to_string(),
        "Created".into(),
        "Status".into(),
        "Include".into(),
        "Level".into(),
        "Attempts".into(),
        "Code".into(),
        "Error".into(),
        "Next Attempt".into(),
    ]];
    for d in &all {
        let attempt = d.last_attempt.as_ref();
        let error: String = attempt
            .and_then(|a| a.error.as_deref())
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect();
        rows.push(vec![
            d.id.clone(),
            to_the_second(&d.created_at),
            d.status.name().into(),
            format!("{} {}", d.event.include, d.event.action),
            d.level.name().into(),
            d.num_attempts.to_string(),
            attempt
                .and_then(|a| a.code)
                .map_or(String::new(), |c| c.to_string()),
            error,
            d.next_attempt_at
                .as_deref()
                .map_or(String::new(), to_the_second),
        ]);
    }
    output::table(&rows);
    Ok(())
}

/// An RFC 3339 time to the second, as the table shows it.
fn to_the_second(text: &str) -> String {
    crate::clock::rfc3339_to_unix(text).map_or(text.to_string(), delivery::rfc3339)
}

pub fn delivery_info(ctx: &Ctx, id: &str) -> Result<()> {
    let app = ctx.app()?;
    let d = delivery::find(&app, id)?;
    let attempt = d.last_attempt.as_ref();
    output::header(&d.id);
    println!("Created:       {}", heroku_time_from_rfc3339(&d.created_at));
    println!("Event:         {}", d.event.id);
    println!("Webhook:       {}", d.webhook);
    println!("Status:        {}", d.status.name());
    println!("Include:       {} {}", d.event.include, d.event.action);
    println!("Level:         {}", d.level.name());
    println!("Attempts:      {}", d.num_attempts);
    println!(
        "Code:          {}",
        attempt
            .and_then(|a| a.code)
            .map_or(String::new(), |c| c.to_string())
    );
    println!(
        "Error:         {}",
        attempt.and_then(|a| a.error.as_deref()).unwrap_or_default()
    );
    println!(
        "Next Attempt:  {}",
        d.next_attempt_at
            .as_deref()
            .map_or(String::new(), to_the_second)
    );
    println!();
    output::header("Event Payload");
    // The body as the last attempt sent it; untried, as the first will,
    // less the attempt's id and the time it is sent.
    let (attempt_id, sent_at) =
        attempt.map_or(("", ""), |a| (a.id.as_str(), a.created_at.as_str()));
    let body = delivery::payload(&d, attempt_id, sent_at);
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|err| Error::unexpected("reading a payload").cause(err))?;
    output::print_json(&value)
}
