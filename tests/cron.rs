//! Scheduled jobs (#22 point 2): `app.json` `cron` entries run as
//! `scheduler.N` one-off dynos, listed with their next and last runs.

use std::time::Duration;

use crate::harness::{poll, text, wait_for, TestServer};

#[test]
fn a_cron_entry_runs_every_minute_and_is_listed_with_its_exit_status() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "timed");
    // A schedule cron cannot read fails the push, naming the entry.
    repo.write(
        "app.json",
        r#"{"cron": [{"command": "echo never", "schedule": "every minute"}]}"#,
    );
    repo.commit("a schedule that is no schedule");
    let refused = repo.push_refused();
    assert!(
        refused.contains("app.json: cron[0] schedule `every minute` is not valid"),
        "{refused}"
    );
    repo.write(
        "app.json",
        r#"{"cron": [
            {"command": "echo cron-ran-on-$DYNO", "schedule": "* * * * *"},
            {"command": "sleep 20", "schedule": "0 0 1 1 *"}
        ]}"#,
    );
    repo.commit("two scheduled jobs");
    repo.push_ok();

    // Within 70 s the every-minute job has run, as scheduler.1.
    wait_for("the job's run", Duration::from_secs(75), || {
        let logs = server.ok(&["logs", "-n", "500", "-a", "timed"]);
        match logs.contains("app[scheduler.1]: cron-ran-on-scheduler.1") {
            true => Ok(()),
            false => Err(logs),
        }
    });

    // Its exit is recorded once its dyno has ended.
    let listed = || -> Vec<serde_json::Value> {
        serde_json::from_str(&server.ok(&["cron", "--json", "-a", "timed"])).unwrap()
    };
    let jobs = poll(Duration::from_secs(20), || {
        let jobs = listed();
        match jobs[0]["last_run"]["exit_status"] == 0 {
            true => Ok(jobs),
            false => Err(jobs),
        }
    })
    .unwrap_or_else(|last| last);
    assert_eq!(jobs[0]["last_run"]["exit_status"], 0, "{jobs:#?}");
    assert_eq!(jobs[0]["dyno"], "scheduler.1");
    assert_eq!(jobs[1]["last_run"], serde_json::Value::Null);
    assert!(
        jobs[1]["next_run"]
            .as_str()
            .unwrap()
            .contains("-01-01T00:00:00"),
        "{jobs:#?}"
    );
    let table = server.ok(&["cron", "-a", "timed"]);
    assert!(
        table.contains("(exit 0)") && table.contains("never"),
        "{table}"
    );

    // Run one now; a run still going is not started again.
    let id = jobs[1]["id"].as_str().unwrap().to_string();
    let started = server.ok(&["cron:run", &id, "-a", "timed"]);
    assert!(started.contains("up, scheduler.2"), "{started}");
    let again = server.cmd(&["cron:run", &id, "-a", "timed"]);
    assert!(!again.status.success());
    assert!(
        text(&again).contains("scheduler.2 is still running"),
        "{}",
        text(&again)
    );
    server.refused(
        &["cron:run", "nope", "-a", "timed"],
        "has no scheduled job `nope`",
    );

    // Times are the app's TZ.
    server.ok(&["config:set", "TZ=Asia/Tokyo", "-a", "timed"]);
    let jobs = listed();
    assert!(
        jobs[1]["next_run"].as_str().unwrap().ends_with("+09:00"),
        "{jobs:#?}"
    );
}
