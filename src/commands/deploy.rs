//! `git push`: the pre-receive hook builds the pushed commit, records a
//! release and rolls it out before git moves the branch. A failed build or a
//! release that does not boot rejects the push, so the branch never points at
//! a commit that did not deploy, and the running release is untouched.

use std::io::BufRead;

use super::Ctx;
use crate::deploy::deploy;
use crate::error::{Context, Error, Result};
use crate::git::RefUpdate;
use crate::release::Ledger;
use crate::state::{AppDir, AppName, Root};

pub fn hook(ctx: &Ctx, name: &str) -> Result<()> {
    if name != "pre-receive" {
        return Err(Error::new(format!("unknown hook `{name}`")));
    }
    // A client that hangs up mid-push gets no more output, but the deploy
    // still finishes (or fails) whole, as on Heroku.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // git runs hooks in the bare repo: `<root>/apps/<app>/repo.git`.
    let repo = std::env::current_dir().context(|| "finding the repository".into())?;
    let app_name = repo
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| AppName::parse(n).ok())
        .ok_or_else(|| {
            Error::unexpected(format!("`{}` is not an app's repository", repo.display()))
        })?;
    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.context(|| "reading the pushed refs".into())?;
        updates.extend(RefUpdate::parse(&line));
    }
    let Some(app) = app_receiving(&ctx.root, &app_name, &ctx.user, &updates)? else {
        return Ok(());
    };
    let deploy_branch = app.settings()?.deploy_branch;
    let runtime = ctx.runtime();
    let platform = ctx.platform(&runtime);

    let mut failed = None;
    // Each pushed ref goes to the audit trail, as the ssh command's caller.
    let caller = crate::access::Caller {
        user: ctx.user.clone(),
        key: std::env::var("PAAS_KEY").unwrap_or_default(),
        deploy: None,
    };
    let record = |update: &RefUpdate, result: String| {
        let short: String = update.new.chars().take(7).collect();
        let command = format!("git push {} {short}", update.name);
        super::audit::write(
            &ctx.root,
            &caller,
            Some(app.name.as_str()),
            &command,
            result,
        );
    };
    for update in &updates {
        let branch = update.branch().unwrap_or(&update.name);
        let deploys = match &deploy_branch {
            Some(wanted) => branch == wanted,
            None => branch == "master" || branch == "main",
        };
        if !deploys {
            say!(
                "-----> `{branch}` is not the deploy branch ({}); pushed, not deployed",
                deploy_branch.as_deref().unwrap_or("master or main")
            );
            record(update, "pushed, not deployed".into());
            continue;
        }
        if update.is_delete() {
            say!(" !     Deleting the deploy branch does not stop the app; `paas ps:scale web=0` does");
            record(update, "deleted the branch".into());
            continue;
        }
        match deploy(&platform, &ctx.user, &app, update) {
            Ok(()) => {
                let version = Ledger::new(&app).current()?.map(|r| r.version);
                record(update, format!("deployed v{}", version.unwrap_or(0)));
            }
            Err(err) => {
                record(update, format!("error: {}", err.message()));
                failed = Some(err);
            }
        }
    }
    match failed {
        None => Ok(()),
        Some(err) => {
            say!(" !     Push rejected");
            Err(err)
        }
    }
}

/// The app a push goes to. A push to a new name (into the repository
/// `apps::FirstPush` made for it) makes the app here, once there are refs
/// to update: a push of nothing makes none (git does not even run this
/// hook for one; an empty input is taken the same way). The pusher owns it.
fn app_receiving(
    root: &Root,
    name: &AppName,
    pusher: &str,
    updates: &[RefUpdate],
) -> Result<Option<AppDir>> {
    let app = root.app(name);
    if app.exists() {
        return Ok(Some(app));
    }
    if updates.is_empty() {
        return Ok(None);
    }
    if crate::apps::ensure_created(root, name, pusher)? {
        say!("-----> Created app `{name}`");
    }
    Ok(Some(app))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git;

    #[test]
    fn a_push_makes_a_new_app_only_with_refs_to_update() {
        // #19, point 6: connecting to push to `etc` made the app `etc`.
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::create_dir_all(root.apps_dir()).unwrap();
        let name = AppName::parse("etc").unwrap();
        assert!(app_receiving(&root, &name, "bob", &[]).unwrap().is_none());
        assert!(!root.app(&name).exists());
        let update = RefUpdate::parse(&format!(
            "{} {} refs/heads/master",
            git::ZERO_ID,
            "1".repeat(40)
        ))
        .unwrap();
        let app = app_receiving(&root, &name, "bob", &[update])
            .unwrap()
            .expect("made");
        assert!(app.exists());
        assert_eq!(
            app.settings().unwrap().owner.as_deref(),
            Some("bob"),
            "the pusher owns it"
        );
        assert_eq!(root.apps().unwrap(), [name]);
    }
}
