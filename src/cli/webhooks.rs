//! `webhooks`: an app's events POSTed to receivers.

use clap::Subcommand;

use super::args::Format;

// Webhooks and their deliveries.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List the app's webhooks.
    #[command(name = "webhooks")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Add a webhook: each event of the kinds it includes is POSTed to its URL
    /// as JSON, as Heroku's app webhooks are, signed with HMAC-SHA256 of the
    /// body in `Heroku-Webhook-Hmac-SHA256`. The daemon sends them; a
    /// receiver that is slow or down never slows a deploy.
    #[command(
        name = "webhooks:add",
        after_help = "EXAMPLES:\n  $ paas webhooks:add -i api:build,api:release,dyno -u https://example.com/hooks\n  $ paas webhooks:add -i api:release -u https://example.com/hooks -s \"$SECRET\" -l notify"
    )]
    Add {
        /// Comma-separated kinds of event the receiver gets: `api:build`
        /// (pending, succeeded, failed), `api:release` (created), `dyno`
        /// (started, state changes).
        #[arg(short, long, value_name = "KINDS")]
        include: String,
        /// The receiver: an `https://` or `http://` URL.
        #[arg(short, long)]
        url: String,
        /// `sync`: a failed delivery is tried again with backoff for up to
        /// an hour; `notify`: it is tried once.
        #[arg(short, long, value_parser = ["sync", "notify"], default_value = "sync")]
        level: String,
        /// The secret deliveries are signed with (default: a new one,
        /// shown once).
        #[arg(short, long)]
        secret: Option<String>,
        /// Sent as the `Authorization` header of every delivery (never shown).
        #[arg(short = 't', long)]
        authorization: Option<String>,
    },
    /// Show a webhook (not its secret or authorization).
    #[command(name = "webhooks:info")]
    Info {
        /// The webhook's id, as `webhooks` lists it (its start will do).
        id: String,
    },
    /// Change a webhook: what is given replaces what it had.
    #[command(name = "webhooks:update")]
    Update {
        /// The webhook's id, as `webhooks` lists it (its start will do).
        id: String,
        /// Comma-separated kinds of event: `api:build`, `api:release`, `dyno`.
        #[arg(short, long, value_name = "KINDS")]
        include: Option<String>,
        /// The receiver: an `https://` or `http://` URL.
        #[arg(short, long)]
        url: Option<String>,
        /// `sync` (retried for up to an hour) or `notify` (tried once).
        #[arg(short, long, value_parser = ["sync", "notify"])]
        level: Option<String>,
        /// A new secret to sign deliveries with.
        #[arg(short, long)]
        secret: Option<String>,
        /// A new `Authorization` header value.
        #[arg(short = 't', long)]
        authorization: Option<String>,
    },
    /// Remove a webhook, with its queued and past deliveries.
    #[command(name = "webhooks:remove")]
    Remove {
        /// The webhook's id, as `webhooks` lists it (its start will do).
        id: String,
    },
    /// List the last deliveries to the app's webhooks (100 kept per
    /// webhook), oldest first: status, attempts, the receiver's answer,
    /// the next attempt.
    #[command(name = "webhooks:deliveries")]
    Deliveries {
        /// Only those with this status.
        #[arg(short, long, value_parser = ["pending", "retrying", "succeeded", "failed"])]
        status: Option<String>,
        #[command(flatten)]
        format: Format,
    },
    /// Show a delivery and the payload it sends.
    #[command(name = "webhooks:deliveries:info")]
    DeliveriesInfo {
        /// The delivery's id, as `webhooks:deliveries` lists it.
        id: String,
    },
}
