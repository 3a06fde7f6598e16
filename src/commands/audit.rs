//! `paas audit`, and what the commands write to the audit trail
//! (`crate::audit`): every command that changes something, every push and
//! every refusal.

use super::Ctx;
use crate::access::Caller;
use crate::access::Role;
use crate::audit::{self, Entry};
use crate::cli::{
    AccessCommand, AddonsCommand, AppUrlsCommand, AppsCommand, AuditCommand, BuildpacksCommand,
    BuildsCommand, CertsAutoCommand, CertsCommand, ChecksCommand, Command, ConfigCommand,
    CronCommand, DomainsCommand, DrainsCommand, Format, KeysCommand, KubernetesCommand,
    LogsCommand, MaintenanceCommand, MetricsCommand, PgCommand, PgStatsCommand, PsCommand,
    PsExecCommand, RedisCommand, ReleasesCommand, StorageCommand, WebhooksCommand,
};
use crate::error::{Error, Result};
use crate::output;
use crate::state::Root;

pub use crate::audit::redact;

/// Runs `audit`.
pub fn run(ctx: &Ctx, command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Show { num, format } => show(ctx, num, format),
    }
}

/// Whether a command may change something (else only a refusal of it is
/// recorded). What is not known to only read is recorded: `run`,
/// `pg:psql` and `redis:cli` may change anything.
pub fn changes_something(command: &Command) -> bool {
    !matches!(
        command,
        Command::Apps(AppsCommand::List { .. } | AppsCommand::Info { .. })
            | Command::Audit(AuditCommand::Show { .. })
            | Command::Access(AccessCommand::List { .. })
            | Command::AppUrls(AppUrlsCommand::Open)
            | Command::Config(ConfigCommand::Show { .. } | ConfigCommand::Get { .. })
            | Command::Ps(PsCommand::List { .. })
            | Command::PsExec(PsExecCommand::Copy { .. })
            | Command::Cron(CronCommand::List { .. })
            | Command::Builds(BuildsCommand::List { .. } | BuildsCommand::Output { .. })
            | Command::Buildpacks(BuildpacksCommand::List)
            | Command::Releases(
                ReleasesCommand::List { .. }
                    | ReleasesCommand::Info { .. }
                    | ReleasesCommand::Output { .. }
            )
            | Command::Kubernetes(
                KubernetesCommand::Manifests { .. }
                    | KubernetesCommand::Scheduler { scheduler: None }
            )
            | Command::Logs(LogsCommand::Show { .. })
            | Command::Metrics(MetricsCommand::Show { .. })
            | Command::Domains(DomainsCommand::List { .. })
            | Command::Certs(CertsCommand::Show { .. })
            | Command::Checks(ChecksCommand::Show)
            | Command::CertsAuto(CertsAutoCommand::Show)
            | Command::Maintenance(MaintenanceCommand::Show)
            | Command::Drains(DrainsCommand::List { .. })
            | Command::Webhooks(
                WebhooksCommand::List { .. }
                    | WebhooksCommand::Info { .. }
                    | WebhooksCommand::Deliveries { .. }
                    | WebhooksCommand::DeliveriesInfo { .. }
            )
            | Command::Addons(AddonsCommand::List { .. } | AddonsCommand::Info { .. })
            | Command::Storage(StorageCommand::List { .. } | StorageCommand::Backup { .. })
            | Command::Pg(
                PgCommand::Info { .. }
                    | PgCommand::Credentials { .. }
                    | PgCommand::Backups { .. }
                    | PgCommand::BackupsInfo { .. }
                    | PgCommand::BackupsDownload { .. }
                    | PgCommand::Pull { .. }
                    | PgCommand::Dump { .. }
            )
            | Command::PgStats(
                PgStatsCommand::Ps { .. }
                    | PgStatsCommand::Locks { .. }
                    | PgStatsCommand::Outliers { reset: false, .. }
                    | PgStatsCommand::Diagnose { .. }
            )
            | Command::Redis(RedisCommand::Info { .. })
            | Command::Keys(KeysCommand::List { .. })
            | Command::Docs(_)
    )
}

/// The name `apps:rename` gives its app.
pub fn renames_to(command: &Command) -> Option<String> {
    match command {
        Command::Apps(AppsCommand::Rename { name, new }) => {
            Some(new.clone().unwrap_or_else(|| name.clone()))
        }
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
        let rename = Command::Apps(AppsCommand::Rename {
            name: "market".into(),
            new: None,
        });
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
        assert_eq!(renames_to(&Command::AppUrls(AppUrlsCommand::Open)), None);
        assert_eq!(app_recorded(old, None, &Ok(())).as_deref(), Some("shop"));
    }
}
