//! `paas audit`, and what the commands write to the audit trail
//! (`crate::audit`): every command that changes something, every push and
//! every refusal.

use super::Ctx;
use crate::access::Caller;
use crate::access::Role;
use crate::audit::{self, Entry};
use crate::cli::{Command, Format};
use crate::error::{Error, Result};
use crate::output;
use crate::state::Root;

pub use crate::audit::redact;

/// Whether a command may change something (else only a refusal of it is
/// recorded). What is not known to only read is recorded: `run`,
/// `pg:psql` and `redis:cli` may change anything.
pub fn changes_something(command: &Command) -> bool {
    !matches!(
        command,
        Command::Apps { .. }
            | Command::AppsInfo { .. }
            | Command::Access { .. }
            | Command::Open
            | Command::Config { .. }
            | Command::ConfigGet { .. }
            | Command::Ps { .. }
            | Command::PsCopy { .. }
            | Command::Builds { .. }
            | Command::Cron { .. }
            | Command::BuildsOutput { .. }
            | Command::Buildpacks
            | Command::Releases { .. }
            | Command::ReleasesInfo { .. }
            | Command::ReleasesOutput { .. }
            | Command::KubernetesManifests { .. }
            | Command::AppsScheduler { scheduler: None }
            | Command::Logs { .. }
            | Command::Metrics { .. }
            | Command::Domains { .. }
            | Command::Certs { .. }
            | Command::CertsAuto
            | Command::Checks
            | Command::Maintenance
            | Command::Drains { .. }
            | Command::Webhooks { .. }
            | Command::WebhooksInfo { .. }
            | Command::WebhooksDeliveries { .. }
            | Command::WebhooksDeliveriesInfo { .. }
            | Command::Addons { .. }
            | Command::AddonsInfo { .. }
            | Command::Storage { .. }
            | Command::StorageBackup { .. }
            | Command::PgInfo { .. }
            | Command::PgCredentials { .. }
            | Command::PgBackups { .. }
            | Command::PgBackupsInfo { .. }
            | Command::PgBackupsDownload { .. }
            | Command::PgPull { .. }
            | Command::PgDump { .. }
            | Command::PgPs { .. }
            | Command::PgLocks { .. }
            | Command::PgOutliers { reset: false, .. }
            | Command::PgDiagnose { .. }
            | Command::RedisInfo { .. }
            | Command::Keys { .. }
            | Command::Audit { .. }
            | Command::Completions { .. }
            | Command::Manpage
    )
}

/// The name `apps:rename` gives its app.
pub fn renames_to(command: &Command) -> Option<String> {
    match command {
        Command::AppsRename { name, new } => Some(new.clone().unwrap_or_else(|| name.clone())),
        _ => None,
    }
}

/// The app an entry names: after a rename, the new name, whose owner reads
/// its trail under it (the command, recorded as typed, names the old one).
pub fn app_recorded(
    app: Option<String>,
    renamed_to: Option<String>,
    result: &Result<()>,
) -> Option<String> {
    match (result, renamed_to) {
        (Ok(()), Some(new)) => Some(new),
        _ => app,
    }
}

/// Records a command that ran: always when it changes something, and when
/// it failed (a refusal looks like any failure from outside). Recording
/// never fails the command: a trail that cannot be written is said.
pub fn record(
    root: &Root,
    caller: &Caller,
    app: Option<&str>,
    command: &str,
    changes: bool,
    result: &Result<()>,
) {
    if !changes && result.is_ok() {
        return;
    }
    let result = match result {
        Ok(()) => "ok".to_string(),
        Err(err) if err.message().is_empty() => format!("exit {}", err.exit_code()),
        Err(err) => format!("error: {}", err.message()),
    };
    write(root, caller, app, command, result);
}

/// Records a refusal made before anything ran.
pub fn record_refusal(root: &Root, caller: &Caller, app: Option<&str>, command: &str, err: &Error) {
    write(
        root,
        caller,
        app,
        command,
        format!("refused: {}", err.message()),
    );
}

/// Appends one entry; a trail that cannot be written is said, never fatal.
pub(super) fn write(
    root: &Root,
    caller: &Caller,
    app: Option<&str>,
    command: &str,
    result: String,
) {
    let entry = Entry {
        time: crate::release::now_rfc3339(),
        user: caller.user.clone(),
        key: caller.key.clone(),
        app: app.map(String::from),
        command: command.to_string(),
        result,
    };
    if let Err(err) = audit::append(root, &entry) {
        say!(" !     warning: {}", err.report().trim_end());
    }
}

/// `paas audit [-a APP] [-n N] [--json]`: admins see every entry, an
/// app's owner the entries of their apps.
pub fn show(ctx: &Ctx, num: usize, format: Format) -> Result<()> {
    let only = if ctx.app_given() {
        Some(ctx.app()?.name.to_string())
    } else {
        None
    };
    let owns = |app: &Option<String>| match app {
        Some(name) => ctx.role_in(name) == Role::Owner,
        None => false,
    };
    if !ctx.admin
        && only
            .as_ref()
            .is_some_and(|app| ctx.role_in(app) != Role::Owner)
    {
        return Err(Error::new(
            "only an app's owner or an admin may read its audit trail",
        ));
    }
    let mut entries: Vec<Entry> = audit::read(&ctx.root)
        .into_iter()
        .filter(|e| only.is_none() || e.app == only)
        .filter(|e| ctx.admin || owns(&e.app))
        .collect();
    let skip = entries.len().saturating_sub(num);
    entries.drain(..skip);
    if format.json {
        return output::print_json(&entries);
    }
    output::table(
        &entries
            .into_iter()
            .map(|e| {
                vec![
                    e.time,
                    e.user,
                    e.app.unwrap_or_else(|| "-".into()),
                    e.command,
                    e.result,
                ]
            })
            .collect::<Vec<_>>(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rename_is_recorded_under_the_new_name_once_done() {
        let rename = Command::AppsRename {
            name: "market".into(),
            new: None,
        };
        let to = renames_to(&rename);
        assert_eq!(to.as_deref(), Some("market"));
        let old = Some("shop".to_string());
        assert_eq!(
            app_recorded(old.clone(), to.clone(), &Ok(())).as_deref(),
            Some("market")
        );
        let refused = Err(Error::new("the name `market` is taken by another app"));
        assert_eq!(
            app_recorded(old.clone(), to, &refused).as_deref(),
            Some("shop")
        );
        assert_eq!(renames_to(&Command::Open), None);
        assert_eq!(app_recorded(old, None, &Ok(())).as_deref(), Some("shop"));
    }
}
