//! The dashboard's two buttons: restart every dyno, roll back to a
//! release. Each runs the workflow its CLI command runs
//! (`formation::restart_dynos`, `rollout::rollback`), as the session's
//! user, and is written to the audit trail as that user, marked as from
//! the dashboard. The request waits for the work (a restart waits for the
//! new dynos, as `ps:restart` does), then goes back to the app's page.

use super::{blocking, not_found, pages, see_other, views, Body};
use crate::access::Action;
use crate::audit;
use crate::error::{Error, Result};
use crate::logins::Session;
use crate::release::ReleaseVersion;
use crate::state::Root;
use hyper::{Response, StatusCode};

pub async fn run(
    root: &Root,
    session: Session,
    app: &str,
    action: &str,
    form: Vec<(String, String)>,
) -> Response<Body> {
    let (root, app, action) = (root.clone(), app.to_string(), action.to_string());
    blocking(move || {
        let user = (session.holder.user.as_str(), session.csrf.as_str());
        let Some((dir, role)) = views::visible_app(&root, &session.holder, &app) else {
            return not_found(&session);
        };
        let back = format!("/apps/{}", dir.name);
        let version = form
            .iter()
            .find(|(name, _)| name == "version")
            // Only a number goes on: it is written into the audit trail's
            // line, which a hand-made form could otherwise fill.
            .map(
                |(_, value)| match value.trim_start_matches('v').parse::<u64>() {
                    Ok(number) => number.to_string(),
                    Err(_) => "?".to_string(),
                },
            );
        let restart = action == "restart";
        let command = match (restart, &version) {
            (true, _) => format!("ps:restart -a {} (dashboard)", dir.name),
            (false, Some(v)) => format!("releases:rollback v{v} -a {} (dashboard)", dir.name),
            (false, None) => format!("releases:rollback -a {} (dashboard)", dir.name),
        };
        let outcome = if !role.allows(Action::Use) {
            Err(Error::new(format!(
                "you are a {} of `{}`, who may not do that",
                role.name(),
                dir.name
            )))
        } else if restart {
            super::super::on_platform(&root, |platform| {
                crate::formation::restart_dynos(platform, &session.holder.user, &dir, None)
            })
            .map(|()| format!("{back}?done=restart"))
        } else {
            rollback(&root, &session, &dir, version.as_deref())
                .map(|v| format!("{back}?done=rollback&version={v}"))
        };
        record(&root, &session, dir.name.as_str(), &command, &outcome);
        match outcome {
            Ok(location) => see_other(&location),
            Err(err) => super::html(
                StatusCode::CONFLICT,
                pages::problem("That did not work", &err.report(), &back, user),
            ),
        }
    })
    .await
}

fn rollback(
    root: &Root,
    session: &Session,
    dir: &crate::state::AppDir,
    version: Option<&str>,
) -> Result<u32> {
    let version = version
        .map(|v| v.parse::<ReleaseVersion>())
        .transpose()
        .map_err(|err| Error::new(err.to_string()))?;
    super::super::on_platform(root, |platform| {
        crate::rollout::rollback(platform, &session.holder.user, dir, version, |_| {})
    })
}

/// The audit trail's line, as the CLI writes one for the same command.
fn record(root: &Root, session: &Session, app: &str, command: &str, outcome: &Result<String>) {
    let entry = audit::Entry {
        time: crate::release::now_rfc3339(),
        user: session.holder.user.clone(),
        key: String::new(),
        app: Some(app.to_string()),
        command: command.to_string(),
        result: match outcome {
            Ok(_) => "ok".to_string(),
            Err(err) => format!("error: {}", err.message()),
        },
    };
    if let Err(err) = audit::append(root, &entry) {
        eprintln!("paas daemon: dashboard: {}", err.report().trim_end());
    }
}
