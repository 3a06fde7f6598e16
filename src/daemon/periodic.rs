//! The daemon's jobs that come round on a timer, apart from the
//! reconciler: add-ons kept running and their scheduled backups, cron jobs,
//! webhook deliveries, and the daily prune.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::addons;
use crate::net::Reach;
use crate::state::{AppDir, Lock, Root, Settings};

use super::{on_platform, RECONCILE_EVERY};

/// Starts every add-on that is not running and waits until each accepts
/// connections (or says why not, in the daemon's log).
pub(super) fn start_addons(root: &Root, settings: &Settings) {
    // Bounded (`server start` waits longer): what is not ready by then is
    // the add-ons loop's to finish.
    let deadline = std::time::Instant::now() + addons::service::READY_TIMEOUT;
    for addon in root.addons().unwrap_or_default() {
        let dir = root.addon(&addon.name);
        let result = addons::service::ensure_running(settings, root, &addon)
            .and_then(|_| addons::service::wait_ready(settings, &addon, &dir, deadline));
        if let Err(err) = result {
            eprintln!("paas daemon: {}: {}", addon.name, err.report().trim_end());
        }
    }
}

/// Stops the add-ons cleanly when the platform stops. Each add-on's lock is
/// held meanwhile, so a restart already under way finishes first and no
/// command starts one again.
pub(super) fn stop_addons(root: &Root, settings: &Settings) {
    let addons = root.addons().unwrap_or_default();
    let _locks: Vec<Lock> = addons
        .iter()
        .filter_map(|a| root.addon(&a.name).lock().ok())
        .collect();
    let names: Vec<String> = addons.into_iter().map(|a| a.name).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Err(err) = addons::service::stop(settings, &names) {
        eprintln!("paas daemon: stopping add-ons: {}", err.report().trim_end());
    }
}

/// Restarts add-ons that died (a killed container is back within seconds)
/// and takes the scheduled backups. An add-on being changed by a command
/// (its lock held) is left alone.
pub(super) async fn addons_loop(root: Root, settings: Settings) {
    loop {
        tokio::time::sleep(RECONCILE_EVERY).await;
        let (root, settings) = (root.clone(), settings.clone());
        let _ = tokio::task::spawn_blocking(move || {
            for addon in root.addons().unwrap_or_default() {
                let dir = root.addon(&addon.name);
                let Ok(Some(_lock)) = Lock::try_acquire(&dir.path.join("lock")) else {
                    continue;
                };
                match addons::service::ensure_running(&settings, &root, &addon) {
                    Ok(true) => {
                        eprintln!("paas daemon: {}: was not running; started it", addon.name)
                    }
                    Ok(false) => {}
                    Err(err) => {
                        eprintln!("paas daemon: {}: {}", addon.name, err.report().trim_end())
                    }
                }
            }
            if let Err(err) = crate::runtime::network::ensure_isolation(&settings) {
                eprintln!("paas daemon: {}", err.report().trim_end());
            }
            addons::backups::run_due_schedules(&root, &settings);
        })
        .await;
    }
}

/// Scheduled jobs (`app.json` `cron`): each few seconds, each app not
/// busy with a command (its lock held) starts what is due this minute.
pub(super) async fn cron_loop(root: Root) {
    // What each app's last pass said went wrong: said once, not each pass.
    let said = Arc::new(std::sync::Mutex::new(HashMap::<String, String>::new()));
    loop {
        tokio::time::sleep(RECONCILE_EVERY).await;
        let (root, said) = (root.clone(), said.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let _ = on_platform(&root, |platform| {
                for name in root.apps()? {
                    let app = root.app(&name);
                    // The repair pass holds each app's lock a moment every
                    // few seconds too: wait that out, not a deploy.
                    let Some(_lock) = lock_within(&app, Duration::from_secs(10)) else {
                        continue;
                    };
                    let now = crate::crashes::now();
                    let problem = match crate::cron::tick(platform, &app, now) {
                        Ok(()) => String::new(),
                        Err(err) => err.report().trim_end().to_string(),
                    };
                    let mut said = said.lock().expect("not poisoned");
                    if said.get(name.as_str()) != Some(&problem) {
                        if !problem.is_empty() {
                            eprintln!("paas daemon: {name}: cron: {problem}");
                        }
                        said.insert(name.to_string(), problem);
                    }
                }
                Ok(())
            });
        })
        .await;
    }
}

/// How often the webhooks' queues are looked at: a second, so an event
/// reaches its receiver about as soon as it is made.
const WEBHOOKS_EVERY: Duration = Duration::from_secs(1);
/// Webhooks sent to at once, each on a blocking thread of its own.
const WEBHOOK_SENDERS: usize = 8;

/// Webhook deliveries (`crate::webhooks`): each second, every webhook with
/// a queue gets what is due sent, in parallel across webhooks but at most
/// `WEBHOOK_SENDERS` at once, and never twice at once (its deliveries go
/// in order), so a receiver that does not answer holds up only its own.
/// Apps' locks are not taken: what makes an event never waits for this.
pub(super) async fn webhooks_loop(root: Root) {
    let busy = Arc::new(Mutex::new(HashSet::<(String, String)>::new()));
    let senders = Arc::new(tokio::sync::Semaphore::new(WEBHOOK_SENDERS));
    loop {
        tokio::time::sleep(WEBHOOKS_EVERY).await;
        let scan = root.clone();
        // The settings read each round: an install that allows private
        // receivers, or no longer does, counts from the next delivery.
        let (queued, reach) = tokio::task::spawn_blocking(move || {
            let reach = scan.settings().map_or(Reach::Internet, |s| s.url_reach());
            (crate::webhooks::delivery::queued(&scan), reach)
        })
        .await
        .unwrap_or((Vec::new(), Reach::Internet));
        for (app, webhook) in queued {
            let key = (app.name.to_string(), webhook.clone());
            if !busy.lock().expect("not poisoned").insert(key.clone()) {
                continue;
            }
            let Ok(sender) = senders.clone().try_acquire_owned() else {
                busy.lock().expect("not poisoned").remove(&key);
                break;
            };
            let busy = busy.clone();
            tokio::spawn(async move {
                let _ = tokio::task::spawn_blocking(move || {
                    crate::webhooks::delivery::send_due(&app, &webhook, reach)
                })
                .await;
                drop(sender);
                busy.lock().expect("not poisoned").remove(&key);
            });
        }
    }
}

/// The app's lock, if it comes free within `wait`.
fn lock_within(app: &AppDir, wait: Duration) -> Option<Lock> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Ok(Some(lock)) = Lock::try_acquire(&app.lock_file()) {
            return Some(lock);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `paas server prune`'s work, once a day: the first an hour after the
/// daemon starts, so a restart does not prune while a deploy waits on it.
const PRUNE_FIRST: Duration = Duration::from_secs(3600);
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

pub(super) async fn prune_loop(root: Root) {
    tokio::time::sleep(PRUNE_FIRST).await;
    loop {
        let root = root.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let pruned = on_platform(&root, |p| {
                crate::prune::everything(p.root, p.settings, p.runtime)
            });
            match pruned {
                Ok(pruned) => eprintln!(
                    "paas daemon: pruned {} slugs and unpacked ones ({}), {} builds' leftovers, {} containers, {} images, {} networks and volumes",
                    pruned.slugs.count,
                    crate::slug::human_size(pruned.slugs.bytes + pruned.builds.bytes),
                    pruned.builds.count,
                    pruned.containers.len(),
                    pruned.images.len(),
                    pruned.networks.len() + pruned.volumes.len()
                ),
                Err(err) => eprintln!("paas daemon: pruning: {}", err.report().trim_end()),
            }
        })
        .await;
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}
