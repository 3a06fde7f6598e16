//! `keys`, `keys:add`, `keys:remove`: who may push and run commands. Users
//! manage their own keys; admins manage everyone's.

use std::path::PathBuf;

use super::Ctx;
use crate::cli::{Format, KeysCommand};
use crate::error::{Error, Result};
use crate::keys::{Key, Registry};
use crate::output;

/// One row of `keys --json`.
#[derive(serde::Serialize)]
struct KeyJson {
    user: String,
    admin: bool,
    #[serde(rename = "type")]
    kind: String,
    fingerprint: String,
    comment: String,
    /// The one app a deploy key may push to.
    #[serde(skip_serializing_if = "Option::is_none")]
    deploy: Option<String>,
}

/// Runs a `keys` command.
pub fn run(ctx: &Ctx, command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::List { format } => list(ctx, format),
        KeysCommand::Add {
            file,
            user,
            admin,
            deploy,
        } => add(ctx, file, user, admin, deploy),
        KeysCommand::Remove { key } => remove(ctx, &key),
    }
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let registry = Registry::load(&ctx.root)?;
    let rows: Vec<KeyJson> = registry
        .keys
        .iter()
        .filter(|k| ctx.admin || k.user == ctx.user)
        .map(|k| KeyJson {
            user: k.user.clone(),
            admin: k.admin,
            kind: k.kind().to_string(),
            fingerprint: k.fingerprint(),
            comment: k.comment(),
            deploy: k.deploy.clone(),
        })
        .collect();
    if format.json {
        return output::print_json(&rows);
    }
    if ctx.admin {
        output::header("Keys");
    } else {
        output::header(&format!("{} Keys", ctx.user));
    }
    let table: Vec<Vec<String>> = rows
        .into_iter()
        .map(|k| {
            let user = match (&k.deploy, k.admin) {
                (Some(app), _) => format!("{} (deploy key for {app})", k.user),
                (None, true) => format!("{} (admin)", k.user),
                (None, false) => k.user,
            };
            vec![user, k.kind, k.fingerprint, k.comment]
        })
        .collect();
    output::table(&table);
    Ok(())
}

pub fn add(
    ctx: &Ctx,
    file: Option<PathBuf>,
    user: Option<String>,
    admin: bool,
    deploy: bool,
) -> Result<()> {
    if (user.as_deref().is_some_and(|u| u != ctx.user) || admin) && !ctx.admin {
        return Err(Error::new(
            "only an admin can add keys for other users or make admins",
        ));
    }
    // A deploy key pushes to one app: its owner's (or an admin's) to give.
    let deploy = match deploy {
        true => Some(ctx.owned_app()?.name.to_string()),
        false => None,
    };
    let text = match (&file, ctx.over_ssh) {
        (Some(_), true) => {
            return Err(
                Error::new("over SSH the key comes on stdin, not from a server path")
                    .hint("from your laptop, `paas keys:add [FILE]` sends it for you"),
            )
        }
        (Some(file), false) => std::fs::read_to_string(file)
            .map_err(|err| Error::new(format!("cannot read `{}`", file.display())).cause(err))?,
        (None, _) => output::read_piped_stdin(
            64 * 1024,
            Error::new("no key given")
                .hint("name the file (`paas keys:add ~/.ssh/id_ed25519.pub`) or pipe it in"),
        )?,
    };
    let line = crate::ssh::parse_public_key(&text).map_err(|reason| {
        Error::new(format!("that is not an SSH public key: {reason}"))
            .hint("send the `.pub` file, such as `~/.ssh/id_ed25519.pub`")
    })?;
    let _lock = Registry::lock(&ctx.root)?;
    let mut registry = Registry::load(&ctx.root)?;
    let key = Key {
        user: user.unwrap_or_else(|| ctx.user.clone()),
        admin,
        line,
        added_by: ctx.user.clone(),
        added_at: crate::release::now_rfc3339(),
        deploy,
    };
    let (fingerprint, owner) = (key.fingerprint(), key.user.clone());
    let deploy = key.deploy.clone();
    registry.add(key)?;
    registry.save(&ctx.root, &ctx.settings)?;
    match deploy {
        Some(app) => say!("Added deploy key {fingerprint} for {app}: it may only push to it"),
        None => say!("Added key {fingerprint} for {owner}"),
    }
    Ok(())
}

pub fn remove(ctx: &Ctx, wanted: &str) -> Result<()> {
    let _lock = Registry::lock(&ctx.root)?;
    let mut registry = Registry::load(&ctx.root)?;
    let matches: Vec<usize> = registry
        .find(wanted)
        .into_iter()
        .filter(|&i| ctx.admin || registry.keys[i].user == ctx.user)
        .collect();
    let index = match matches.as_slice() {
        [index] => *index,
        [] => {
            return Err(Error::new(format!("no key of yours matches `{wanted}`"))
                .hint("`paas keys` lists them; name one by fingerprint (`SHA256:…`) or comment"))
        }
        _ => {
            return Err(
                Error::new(format!("`{wanted}` matches {} keys", matches.len()))
                    .hint("name one by its fingerprint (`SHA256:…`), from `paas keys`"),
            )
        }
    };
    let key = registry.remove(index)?;
    registry.save(&ctx.root, &ctx.settings)?;
    say!("Removed key {} of {}", key.fingerprint(), key.user);
    Ok(())
}
