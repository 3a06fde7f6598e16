//! `access`, `access:add`, `access:remove`, `apps:transfer`: who may act on
//! an app (#20). The owner and admins change it; collaborators act on the
//! app but cannot destroy or transfer it or change who else may.

use super::Ctx;
use crate::cli::{AccessCommand, Format};
use crate::error::{Error, Result};
use crate::keys::Registry;
use crate::output;

/// One row of `access --json`.
#[derive(serde::Serialize)]
struct AccessJson {
    user: String,
    role: &'static str,
}

/// Runs an `access` command, or `apps:transfer`.
pub fn run(ctx: &Ctx, command: AccessCommand) -> Result<()> {
    match command {
        AccessCommand::Transfer { user } => transfer(ctx, &user),
        AccessCommand::List { format } => list(ctx, format),
        AccessCommand::Add { user } => add(ctx, &user),
        AccessCommand::Remove { user } => remove(ctx, &user),
    }
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let settings = app.settings()?;
    let mut rows: Vec<AccessJson> = Vec::new();
    if let Some(owner) = settings.owner {
        rows.push(AccessJson {
            user: owner,
            role: "owner",
        });
    }
    rows.extend(settings.collaborators.into_iter().map(|user| AccessJson {
        user,
        role: "collaborator",
    }));
    if format.json {
        return output::print_json(&rows);
    }
    output::header(&format!("{} Access List", app.name));
    output::table(
        &rows
            .iter()
            .map(|r| vec![r.user.clone(), r.role.to_string()])
            .collect::<Vec<_>>(),
    );
    say!("Admins of this server act on every app (`paas keys` lists them).");
    Ok(())
}

pub fn add(ctx: &Ctx, user: &str) -> Result<()> {
    let app = ctx.owned_app()?;
    let _lock = app.lock()?;
    require_user(ctx, user)?;
    let settings = app.settings()?;
    if settings.owner.as_deref() == Some(user) {
        return Err(Error::new(format!("`{user}` owns `{}`", app.name)));
    }
    if settings.collaborators.iter().any(|c| c == user) {
        return Err(Error::new(format!(
            "`{user}` already collaborates on `{}`",
            app.name
        )));
    }
    say_partial!("Adding {user} to {} as collaborator... ", app.name);
    app.update_settings(|s| s.collaborators.push(user.to_string()))?;
    say!("done");
    Ok(())
}

pub fn remove(ctx: &Ctx, user: &str) -> Result<()> {
    let app = ctx.owned_app()?;
    let _lock = app.lock()?;
    let settings = app.settings()?;
    if settings.owner.as_deref() == Some(user) {
        return Err(
            Error::new(format!("`{user}` owns `{}` and stays", app.name)).hint(format!(
                "give it to someone else first: `paas apps:transfer USER -a {}`",
                app.name
            )),
        );
    }
    if !settings.collaborators.iter().any(|c| c == user) {
        return Err(
            Error::new(format!("`{user}` does not collaborate on `{}`", app.name))
                .hint(format!("`paas access -a {}` lists who does", app.name)),
        );
    }
    say_partial!("Removing {user} from {} collaborators... ", app.name);
    app.update_settings(|s| s.collaborators.retain(|c| c != user))?;
    say!("done");
    Ok(())
}

/// `apps:transfer USER`: the new owner must have a key here; the previous
/// owner stays on as a collaborator, as on Heroku.
pub fn transfer(ctx: &Ctx, user: &str) -> Result<()> {
    let app = ctx.owned_app()?;
    let _lock = app.lock()?;
    require_user(ctx, user)?;
    let previous = app.settings()?.owner;
    if previous.as_deref() == Some(user) {
        return Err(Error::new(format!("`{user}` already owns `{}`", app.name)));
    }
    say_partial!("Transferring {} to {user}... ", app.name);
    app.update_settings(|s| {
        s.collaborators.retain(|c| c != user);
        if let Some(previous) = previous {
            s.collaborators.push(previous);
        }
        s.owner = Some(user.to_string());
    })?;
    say!("done");
    Ok(())
}

/// Refuses a user with no key here: they could never act on the app.
fn require_user(ctx: &Ctx, user: &str) -> Result<()> {
    if Registry::load(&ctx.root)?
        .keys
        .iter()
        .any(|k| k.user == user)
    {
        return Ok(());
    }
    Err(
        Error::new(format!("no user `{user}` has a key on this server")).hint(format!(
            "an admin adds one: `paas keys:add --user {user} FILE`"
        )),
    )
}
