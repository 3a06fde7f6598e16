//! `storage`, `storage:create`, `:mount`, `:unmount`, `:destroy`,
//! `:backup`, `:restore` (crate::storage). A storage is its creator's:
//! they and admins may mount, back up, restore and destroy it; anyone who
//! may use an app sees and may unmount what is mounted on it.

use std::io::IsTerminal;

use super::Ctx;
use crate::cli::{Format, StorageCommand};
use crate::error::{Error, Result};
use crate::output;
use crate::slug::human_size;
use crate::state::{MountPath, Storage, StorageDir, StorageName};

/// One row of `storage --json`.
#[derive(serde::Serialize)]
struct StorageJson {
    name: String,
    /// Bytes its files take.
    size: u64,
    created_by: String,
    created_at: String,
    mounts: Vec<MountJson>,
}

#[derive(serde::Serialize)]
struct MountJson {
    app: String,
    path: String,
}

/// A storage the user may act on: their own, or any for an admin. One
/// they may not see answers as one that does not exist.
fn owned(ctx: &Ctx, name: &str) -> Result<(Storage, StorageDir)> {
    let dir = ctx.root.storage(&StorageName::parse(name)?);
    let storage = dir.read()?;
    if storage.is_owned_by(&ctx.user, ctx.admin) {
        return Ok((storage, dir));
    }
    let mounted_where_seen = crate::storage::mounts_of(&ctx.root, &dir.name)?
        .iter()
        .any(|(app, _)| ctx.role_in(app.as_str()).sees());
    if !mounted_where_seen {
        return Err(dir.missing());
    }
    Err(Error::new(format!(
        "only `{}`, who created storage `{name}`, or an admin may do that",
        storage.created_by
    ))
    .hint("`paas storage:unmount` is open to anyone who may use the app"))
}

/// Runs a `storage` command.
pub fn run(ctx: &Ctx, command: StorageCommand) -> Result<()> {
    match command {
        StorageCommand::List { format } => list(ctx, format),
        StorageCommand::Create { name } => create(ctx, &name),
        StorageCommand::Mount { name, path } => mount(ctx, &name, &path),
        StorageCommand::Unmount { name } => unmount(ctx, &name),
        StorageCommand::Destroy { name, confirm } => destroy(ctx, &name, confirm),
        StorageCommand::Backup { name } => backup(ctx, &name),
        StorageCommand::Restore { name, confirm } => restore(ctx, &name, confirm),
    }
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let only_app = if ctx.app_given() {
        Some(ctx.app()?)
    } else {
        None
    };
    let runtime = ctx.runtime();
    let sizes = crate::storage::sizes(&ctx.platform(&runtime))?;
    let mounts = crate::storage::all_mounts(&ctx.root)?;
    let mut rows = Vec::new();
    for storage in ctx.root.storages()? {
        // Only what the user may see: their storages (an admin's: all)
        // and those mounted on apps they use, and only those mounts.
        let seen: Vec<MountJson> = mounts
            .iter()
            .filter(|(app, m)| m.storage == storage.name && ctx.role_in(app.as_str()).sees())
            .filter(|(app, _)| only_app.as_ref().is_none_or(|only| only.name == *app))
            .map(|(app, m)| MountJson {
                app: app.to_string(),
                path: m.path.to_string(),
            })
            .collect();
        let shown = match &only_app {
            Some(_) => !seen.is_empty(),
            None => storage.is_owned_by(&ctx.user, ctx.admin) || !seen.is_empty(),
        };
        if !shown {
            continue;
        }
        rows.push(StorageJson {
            size: sizes.get(&storage.name).copied().unwrap_or(0),
            name: storage.name.to_string(),
            created_by: storage.created_by,
            created_at: storage.created_at,
            mounts: seen,
        });
    }
    if format.json {
        return output::print_json(&rows);
    }
    if rows.is_empty() {
        match &only_app {
            Some(app) => say!(
                "No storage mounted on {0}. Mount one with `paas storage:mount NAME /app/PATH -a {0}`.",
                app.name
            ),
            None => say!("No storage. Create one with `paas storage:create NAME`."),
        }
        return Ok(());
    }
    let mut table = vec![vec![
        "Storage".to_string(),
        "Size".to_string(),
        "Mounted on".to_string(),
    ]];
    for row in &rows {
        let mounted: Vec<String> = row
            .mounts
            .iter()
            .map(|m| match &only_app {
                Some(_) => m.path.clone(),
                None => format!("{}:{}", m.app, m.path),
            })
            .collect();
        table.push(vec![
            row.name.clone(),
            human_size(row.size),
            if mounted.is_empty() {
                "(not mounted)".into()
            } else {
                mounted.join(", ")
            },
        ]);
    }
    output::table(&table);
    Ok(())
}

pub fn create(ctx: &Ctx, name: &str) -> Result<()> {
    let dir = ctx.root.storage(&StorageName::parse(name)?);
    say_partial!("Creating storage {name}... ");
    let runtime = ctx.runtime();
    crate::storage::create(&ctx.platform(&runtime), &ctx.user, &dir)?;
    say!("done");
    say!("Mount it into an app with `paas storage:mount {name} /app/PATH -a APP`.");
    Ok(())
}

pub fn mount(ctx: &Ctx, name: &str, path: &str) -> Result<()> {
    let app = ctx.app()?;
    let path = MountPath::parse(path)?;
    let (_, dir) = owned(ctx, name)?;
    let runtime = ctx.runtime();
    let mount = crate::storage::mount(&ctx.platform(&runtime), &ctx.user, &app, &dir, path)?;
    say!(
        "Files {} writes under {} now outlive its dynos (deploys, restarts, rollbacks).",
        app.name,
        mount.path
    );
    Ok(())
}

pub fn unmount(ctx: &Ctx, which: &str) -> Result<()> {
    let app = ctx.app()?;
    let runtime = ctx.runtime();
    let mount = crate::storage::unmount(&ctx.platform(&runtime), &ctx.user, &app, which)?;
    say!(
        "Its files stay in storage {0} (`paas storage:destroy {0}` deletes them).",
        mount.storage
    );
    Ok(())
}

pub fn destroy(ctx: &Ctx, name: &str, confirm: Option<String>) -> Result<()> {
    let (_, dir) = owned(ctx, name)?;
    let mounted: Vec<String> = crate::storage::mounts_of(&ctx.root, &dir.name)?
        .into_iter()
        .map(|(app, path)| format!("`{app}` at `{path}`"))
        .collect();
    let unmounts = match mounted.is_empty() {
        true => String::new(),
        false => format!(
            "; it is mounted on {}, and is unmounted there first (the dynos restart)",
            mounted.join(", ")
        ),
    };
    let warning =
        format!("This will destroy storage {name} and every file in it for good{unmounts}.");
    if super::confirmation(confirm.as_deref(), name, &warning).as_deref() != Some(name) {
        return Err(Error::new(format!(
            "destroying storage `{name}` deletes its files for good{unmounts}"
        ))
        .hint(format!(
            "back it up first with `paas storage:backup {name} > {name}.tar.zst`; confirm with `paas storage:destroy {name} --confirm {name}`"
        )));
    }
    let runtime = ctx.runtime();
    crate::storage::destroy(&ctx.platform(&runtime), &ctx.user, &dir)
}

pub fn backup(ctx: &Ctx, name: &str) -> Result<()> {
    let (_, dir) = owned(ctx, name)?;
    let stdout = std::io::stdout();
    if stdout.is_terminal() {
        return Err(
            Error::new("a backup is binary: it would garble the terminal").hint(format!(
                "redirect it to a file: `paas storage:backup {name} > {name}.tar.zst`"
            )),
        );
    }
    let runtime = ctx.runtime();
    let out = std::io::BufWriter::new(stdout.lock());
    let written = crate::storage::backup(&ctx.platform(&runtime), &dir, out)?;
    say!(
        "Backed up storage {name}: {} (a zstd-compressed tar)",
        human_size(written)
    );
    Ok(())
}

pub fn restore(ctx: &Ctx, name: &str, confirm: Option<String>) -> Result<()> {
    let (_, dir) = owned(ctx, name)?;
    if confirm.as_deref() != Some(name) {
        return Err(
            Error::new(format!("restoring replaces every file in storage `{name}`")).hint(format!(
                "confirm with `paas storage:restore {name} --confirm {name} < {name}.tar.zst`"
            )),
        );
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(Error::new("no backup on stdin").hint(format!(
            "pipe one in: `paas storage:restore {name} --confirm {name} < {name}.tar.zst`"
        )));
    }
    say_partial!("Restoring storage {name}... ");
    let runtime = ctx.runtime();
    let size = crate::storage::restore(&ctx.platform(&runtime), &ctx.user, &dir, stdin.lock())?;
    say!("done (a {} tar)", human_size(size));
    Ok(())
}
