//! The events webhooks receive, made where things happen: a build recorded
//! or finished (`build::history`), a release recorded (`rollout`), a dyno
//! started or its state changed (`converge`, `probation`). Making one
//! writes a small file into the queue of each webhook that wants it
//! (`delivery::enqueue`) and nothing more: a receiver that is slow or gone
//! never slows a deploy.
//!
//! `data` follows Heroku's shapes for builds, releases and dynos where
//! paas has the facts; ids are paas's own (build numbers, release
//! versions, dyno names), and apps are named, as paas gives them no id.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::delivery;
use crate::logs;
use crate::release::{now_rfc3339, Release};
use crate::state::AppDir;

/// One event, as queued for each webhook that wants it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub id: String,
    pub created_at: String,
    /// Its kind, as `--include` names it (`api:release`).
    pub include: String,
    /// What the payload says changed (`release`).
    pub resource: String,
    /// `create` or `update`.
    pub action: String,
    pub actor: Actor,
    pub data: Value,
    /// What `data` said before, of the fields that changed (`update`).
    pub previous_data: Value,
}

/// Who caused an event: the user's name in both fields (paas users have
/// no e-mail address), `paas` for what the platform did by itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    pub email: String,
    pub id: String,
}

impl Actor {
    fn of(user: &str) -> Actor {
        Actor {
            email: user.to_string(),
            id: user.to_string(),
        }
    }
}

/// The platform, as the actor of what no user asked for at that moment
/// (a crash, a repair).
const PLATFORM: &str = "paas";

/// What a build's events say of it, as `build::history` records it.
pub struct BuildFacts<'a> {
    pub id: u32,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'a str,
    pub commit: &'a str,
    pub user: &'a str,
    pub created_at: &'a str,
    /// The release it made.
    pub release: Option<u32>,
}

/// What a dyno's events say of it.
pub struct DynoFacts<'a> {
    /// `web.1`
    pub name: String,
    pub process_type: &'a str,
    pub release: u32,
    /// `standard-1x`
    pub size: &'a str,
    /// Unix seconds.
    pub started_at: i64,
}

/// A build was recorded (`pending`: `create`) or finished (`update`, with
/// the status it had before).
pub fn build(app: &AppDir, build: &BuildFacts, previous_status: Option<&str>) {
    let data = json!({
        "id": build.id,
        "app": {"name": app.name.as_str()},
        "status": build.status,
        "source_blob": {"version": build.commit},
        "release": build.release.map(|version| json!({"version": version})),
        "user": Actor::of(build.user),
        "created_at": build.created_at,
        "updated_at": now_rfc3339(),
    });
    let (action, previous) = match previous_status {
        None => ("create", json!({})),
        Some(status) => ("update", json!({"status": status})),
    };
    emit(app, "api:build", action, build.user, data, previous);
}

/// A release was recorded: `succeeded` and current once its dynos are up,
/// or `failed` when its release phase failed.
pub fn release_created(app: &AppDir, release: &Release) {
    let status = match release.failed {
        Some(_) => "failed",
        None => "succeeded",
    };
    let data = json!({
        "version": release.version,
        "app": {"name": app.name.as_str()},
        "description": release.description,
        "status": status,
        "current": release.failed.is_none(),
        "slug": release.slug.as_ref().map(|slug| json!({"id": slug.sha256})),
        "user": Actor::of(&release.user),
        "created_at": release.created_at,
        "updated_at": now_rfc3339(),
    });
    emit(app, "api:release", "create", &release.user, data, json!({}));
}

/// A dyno was started with `command` (its state: `starting`).
pub fn dyno_started(app: &AppDir, dyno: &DynoFacts, command: &str) {
    let mut data = dyno_data(app, dyno, "starting");
    data["command"] = json!(command);
    emit(app, "dyno", "create", PLATFORM, data, json!({}));
}

/// A dyno's state changed: said in the app's log stream (`State changed
/// from up to crashed`, as Heroku says it) and sent to webhooks.
pub fn dyno_state_changed(app: &AppDir, dyno: &DynoFacts, from: &str, to: &str) {
    logs::platform(
        app,
        &dyno.name,
        &format!("State changed from {from} to {to}"),
    );
    let data = dyno_data(app, dyno, to);
    emit(
        app,
        "dyno",
        "update",
        PLATFORM,
        data,
        json!({"state": from}),
    );
}

fn dyno_data(app: &AppDir, dyno: &DynoFacts, state: &str) -> Value {
    json!({
        "name": dyno.name,
        "type": dyno.process_type,
        "state": state,
        "size": dyno.size,
        "release": {"version": dyno.release},
        "app": {"name": app.name.as_str()},
        "created_at": delivery::rfc3339(dyno.started_at),
        "updated_at": now_rfc3339(),
    })
}

/// Queues the event for each of the app's webhooks that includes its kind.
/// Never fails what caused it: a queue that cannot be written is said.
fn emit(app: &AppDir, include: &str, action: &str, user: &str, data: Value, previous: Value) {
    let webhooks = match super::list(app) {
        Ok(webhooks) => webhooks,
        Err(err) => {
            say!(" !     warning: webhooks: {}", err.report().trim_end());
            return;
        }
    };
    let wanting: Vec<&super::Webhook> = webhooks.iter().filter(|w| w.includes(include)).collect();
    if wanting.is_empty() {
        return;
    }
    let resource = super::KINDS
        .iter()
        .find(|(kind, _)| *kind == include)
        .map_or(include, |(_, resource)| resource);
    let event = Event {
        id: super::new_id(),
        created_at: now_rfc3339(),
        include: include.to_string(),
        resource: resource.to_string(),
        action: action.to_string(),
        actor: Actor::of(user),
        data,
        previous_data: previous,
    };
    for webhook in wanting {
        if let Err(err) = delivery::enqueue(app, webhook, &event) {
            say!(
                " !     warning: the webhook {} misses a `{include}` event: {}",
                webhook.id,
                err.report().trim_end()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AppName, Root};
    use crate::webhooks::{save, Level, Webhook};

    fn webhook(include: &[&str]) -> Webhook {
        Webhook {
            id: crate::webhooks::new_id(),
            url: "http://127.0.0.1:9/".into(),
            include: include.iter().map(|k| k.to_string()).collect(),
            level: Level::Sync,
            secret: "s".into(),
            authorization: None,
            created_at: now_rfc3339(),
            updated_at: now_rfc3339(),
        }
    }

    #[test]
    fn events_go_to_the_queues_of_the_webhooks_that_include_them() {
        let dir = tempfile::tempdir().unwrap();
        let app = Root::new(dir.path()).app(&AppName::parse("web").unwrap());
        // No webhooks: nothing is written, not even the directory.
        let facts = BuildFacts {
            id: 7,
            status: "pending",
            commit: "1a2b3c4",
            user: "alice",
            created_at: "2026-11-21T10:00:00Z",
            release: None,
        };
        build(&app, &facts, None);
        assert!(!app.path.join("webhooks").exists());

        let builds = webhook(&["api:build"]);
        let dynos = webhook(&["dyno"]);
        save(&app, &builds).unwrap();
        save(&app, &dynos).unwrap();
        build(&app, &facts, None);
        let done = BuildFacts {
            status: "succeeded",
            release: Some(3),
            ..facts
        };
        build(&app, &done, Some("pending"));
        let queued = delivery::list(&app, &builds);
        assert_eq!(queued.len(), 2);
        assert!(delivery::list(&app, &dynos).is_empty());
        let (created, updated) = (&queued[0].event, &queued[1].event);
        assert_eq!(
            (created.action.as_str(), updated.action.as_str()),
            ("create", "update")
        );
        assert_eq!(created.resource, "build");
        assert_eq!(created.include, "api:build");
        assert_eq!(created.actor, Actor::of("alice"));
        assert_eq!(created.data["status"], "pending");
        assert_eq!(created.data["source_blob"]["version"], "1a2b3c4");
        assert_eq!(created.data["release"], Value::Null);
        assert_eq!(updated.data["status"], "succeeded");
        assert_eq!(updated.data["release"]["version"], 3);
        assert_eq!(updated.previous_data, json!({"status": "pending"}));
        assert_eq!(queued[0].status, delivery::Status::Pending);

        let dyno = DynoFacts {
            name: "web.1".into(),
            process_type: "web",
            release: 3,
            size: "standard-1x",
            started_at: 1_795_255_200,
        };
        dyno_state_changed(&app, &dyno, "starting", "up");
        let sent = delivery::list(&app, &dynos);
        assert_eq!(sent.len(), 1);
        let event = &sent[0].event;
        assert_eq!(
            (event.resource.as_str(), event.action.as_str()),
            ("dyno", "update")
        );
        assert_eq!(event.data["state"], "up");
        assert_eq!(event.data["name"], "web.1");
        assert_eq!(event.data["created_at"], "2026-11-21T10:00:00Z");
        assert_eq!(event.previous_data, json!({"state": "starting"}));
        assert_eq!(event.actor.id, "paas");
        // The state change is in the log stream as before.
        let log = std::fs::read_to_string(app.logs_dir().join("platform.log")).unwrap();
        assert!(
            log.contains(" web.1 State changed from starting to up\n"),
            "{log}"
        );
    }
}
