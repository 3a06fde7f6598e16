//! `logs`: the app's stream (dyno output and platform events), merged in
//! time order, in Heroku's line format.

use std::time::Duration;

use super::Ctx;
use crate::cli::LogsCommand;
use crate::error::{Error, Result};
use crate::logs::{Filter, Reader};

/// Runs a `logs` command.
pub fn run(ctx: &Ctx, command: LogsCommand) -> Result<()> {
    match command {
        LogsCommand::Show {
            num,
            tail,
            process_type,
            dyno,
            source,
        } => show(
            ctx,
            num,
            tail,
            crate::logs::Filter {
                process_type,
                dyno,
                source,
            },
        ),
        LogsCommand::Limit { megabytes } => limit(ctx, megabytes),
    }
}

pub fn show(ctx: &Ctx, num: usize, tail: bool, mut filter: Filter) -> Result<()> {
    // Heroku names the platform's lines `heroku`: the same source here.
    if filter.source.as_deref() == Some("heroku") {
        filter.source = Some("paas".into());
    }
    if let Some(source) = &filter.source {
        if source != "app" && source != "paas" {
            return Err(Error::new(format!("`{source}` is not a log source"))
                .hint("use `-s app` or `-s paas` (or Heroku's `-s heroku`)"));
        }
    }
    let app = ctx.app()?;
    if crate::kubernetes::workflows::on_cluster(&app)? {
        if tail {
            crate::output::watch_for_hangup(|| {});
        }
        return crate::kubernetes::workflows::logs(
            &ctx.root,
            &app,
            num,
            tail,
            &filter,
            &mut |line| println!("{}", line.heroku_format()),
        );
    }
    let mut reader = Reader::new(&app);
    let lines: Vec<_> = reader
        .read_new()
        .into_iter()
        .filter(|l| filter.matches(l))
        .collect();
    for line in &lines[lines.len().saturating_sub(num)..] {
        println!("{}", line.heroku_format());
    }
    if !tail {
        return Ok(());
    }
    crate::output::watch_for_hangup(|| {});
    loop {
        std::thread::sleep(Duration::from_millis(200));
        for line in reader.read_new().into_iter().filter(|l| filter.matches(l)) {
            println!("{}", line.heroku_format());
        }
    }
}

/// `logs:limit [MB]`: shows or sets how much log stream the app keeps; the
/// daemon trims to it within seconds (oldest files of gone dynos first).
pub fn limit(ctx: &Ctx, megabytes: Option<u64>) -> Result<()> {
    let app = ctx.app()?;
    let Some(megabytes) = megabytes else {
        let limit = app
            .settings()?
            .log_limit_mb
            .unwrap_or(crate::logs::DEFAULT_LIMIT_BYTES / 1024 / 1024);
        println!("{limit} MB");
        return Ok(());
    };
    if !(1..=10_240).contains(&megabytes) {
        return Err(
            Error::new(format!("{megabytes} MB is not a log limit")).hint("give 1 to 10240 MB")
        );
    }
    let _lock = app.lock()?;
    let mut settings = app.settings()?;
    settings.log_limit_mb = Some(megabytes);
    app.write_settings(&settings)?;
    say!("{} keeps at most {megabytes} MB of logs", app.name);
    Ok(())
}
