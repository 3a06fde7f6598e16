//! The release phase on a cluster: the release's Job, waited for until it
//! succeeds or fails. A failure is an outcome, not an error: the caller
//! (`rollout`) records the release as failed, as a failed release phase
//! on podman is, and the running release keeps serving.

use super::scheduler::{OnCluster, Pace};
use crate::duration;
use crate::error::{Error, Result};

/// Reads of the Job's state that may fail in a row (the API server
/// restarting, a network blip) before paas stops waiting.
const MAX_UNANSWERED: u32 = 5;

/// Why a release phase's Job did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// As the ledger records a failed release: `release command failed
    /// (exit status 3)`.
    pub why: String,
    /// Whether it ran past the release phase's time limit.
    pub timed_out: bool,
}

/// What the Job's status says.
enum JobState {
    Running,
    Succeeded,
    Failed { deadline: bool },
}

/// `{succeeded}/{failed}/{the Failed condition's reason}`, as the
/// jsonpath below prints it: `1//`, `/1/BackoffLimitExceeded`,
/// `//DeadlineExceeded` (a Job stopped at its deadline before its pod
/// ran counts no failed pod, only the condition).
fn job_state(status: &str) -> JobState {
    let mut parts = status.trim().splitn(3, '/');
    let succeeded = parts.next().unwrap_or_default();
    let failed = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default();
    if succeeded.parse::<u32>().unwrap_or(0) > 0 {
        JobState::Succeeded
    } else if failed.parse::<u32>().unwrap_or(0) > 0 || !reason.is_empty() {
        JobState::Failed {
            deadline: reason == "DeadlineExceeded",
        }
    } else {
        JobState::Running
    }
}

impl OnCluster<'_> {
    /// Waits for the release phase's Job `job` to end. Its failure shows
    /// the end of its log (what the release command printed) and is
    /// returned; kubectl failing is the error. `time_limit` is the
    /// Job's own `activeDeadlineSeconds`, named in the failure; `pace`
    /// should wait a little longer, so the cluster ends the Job first.
    pub fn wait_for_job(
        &self,
        job: &str,
        pace: Pace,
        time_limit_secs: u64,
    ) -> Result<Option<JobFailure>> {
        let target = format!("job/{job}");
        let ran_past = JobFailure {
            why: format!(
                "release command ran past this server's limit of {} and was stopped",
                duration::human(time_limit_secs)
            ),
            timed_out: true,
        };
        let mut unanswered = 0;
        for attempt in 0..pace.attempts() {
            if attempt > 0 {
                std::thread::sleep(pace.interval);
            }
            let status = self.run(
                &[
                    "get",
                    &target,
                    "-n",
                    &self.namespace,
                    "-o",
                    "jsonpath={.status.succeeded}/{.status.failed}/{.status.conditions[?(@.type==\"Failed\")].reason}",
                ],
                "read the release phase's Job",
            );
            // The Job runs on whether or not the API answers this once:
            // a blip is waited out, not reported as the Job's end.
            let status = match status {
                Ok(status) => {
                    unanswered = 0;
                    status
                }
                Err(err) if unanswered + 1 >= MAX_UNANSWERED => {
                    return Err(err.hint(format!(
                        "the release phase may still be running: `kubectl -n {} get {target}` says",
                        self.namespace
                    )))
                }
                Err(_) => {
                    unanswered += 1;
                    continue;
                }
            };
            match job_state(&status) {
                JobState::Running => continue,
                JobState::Succeeded => {
                    say!("       Release command succeeded");
                    return Ok(None);
                }
                JobState::Failed { deadline } => {
                    self.show_job_log(&target);
                    if deadline {
                        return Ok(Some(ran_past));
                    }
                    return Ok(Some(JobFailure {
                        why: match self.exit_status(job) {
                            Some(code) => format!("release command failed (exit status {code})"),
                            None => "release command failed".into(),
                        },
                        timed_out: false,
                    }));
                }
            }
        }
        // The cluster should have stopped it at its deadline; whatever it
        // waits for (an image it cannot pull, no node with room), it did
        // not run within the limit.
        self.show_job_log(&target);
        Err(Error::new(format!(
            "the release phase ({job}) did not end within {}",
            duration::human(pace.limit.as_secs())
        ))
        .hint(format!(
            "nothing else changed on the cluster; `kubectl -n {} describe {target}` says what it waits for",
            self.namespace
        )))
    }

    /// The end of the Job's log, shown as a release phase's output is
    /// here (best effort: the failure is reported without it).
    fn show_job_log(&self, target: &str) {
        let log = self
            .kubectl
            .run(
                &[
                    "logs".to_string(),
                    target.to_string(),
                    "-n".into(),
                    self.namespace.clone(),
                    "--tail=20".into(),
                ],
                None,
            )
            .map(|answer| answer.stdout)
            .unwrap_or_default();
        for line in log.lines() {
            say!("       {line}");
        }
    }

    /// The exit status of the Job's container, if its pod is still there
    /// to say it.
    fn exit_status(&self, job: &str) -> Option<i64> {
        let selector = format!("job-name={job}");
        let codes = self
            .get_pods(
                &selector,
                "jsonpath={.items[*].status.containerStatuses[*].state.terminated.exitCode}",
                "read the release phase's pod",
            )
            .ok()?;
        codes
            .split_whitespace()
            .filter_map(|code| code.parse().ok())
            .find(|code| *code != 0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::kubectl::{Exchange, Recorded};
    use super::super::scheduler::fixture::{on, QUICK};
    use super::*;

    const STATUS: &str = "get job/release-v8 -n paas-shop -o jsonpath={.status.succeeded}/{.status.failed}/{.status.conditions[?(@.type==\"Failed\")].reason}";
    #[test]
    fn a_job_that_succeeds_is_no_failure() {
        let kubectl = Recorded::new(vec![
            Exchange::new(STATUS, "//"),
            Exchange::new(STATUS, "1//"),
        ]);
        assert_eq!(
            on(&kubectl).wait_for_job("release-v8", QUICK, 60).unwrap(),
            None
        );
        kubectl.assert_done();
    }

    #[test]
    fn the_api_not_answering_a_few_times_is_waited_out() {
        let patient = Pace {
            interval: Duration::from_millis(1),
            limit: Duration::from_millis(20),
        };
        let blip = || Exchange::failing(STATUS, "Unable to connect to the server: EOF");
        let kubectl = Recorded::new(vec![blip(), blip(), Exchange::new(STATUS, "1//")]);
        assert_eq!(
            on(&kubectl)
                .wait_for_job("release-v8", patient, 60)
                .unwrap(),
            None
        );
        kubectl.assert_done();

        let kubectl = Recorded::new((0..MAX_UNANSWERED).map(|_| blip()).collect());
        let err = on(&kubectl)
            .wait_for_job("release-v8", patient, 60)
            .unwrap_err();
        kubectl.assert_done();
        assert!(err.report().contains("may still be running"), "{err:?}");
    }

    #[test]
    fn a_failed_job_says_its_exit_status() {
        let kubectl = Recorded::new(vec![
            Exchange::new(STATUS, "/1/BackoffLimitExceeded"),
            Exchange::new(
                "logs job/release-v8 -n paas-shop --tail=20",
                "migration 42 failed: no such table\n",
            ),
            Exchange::new(
                "get pods -n paas-shop -l job-name=release-v8 -o jsonpath={.items[*].status.containerStatuses[*].state.terminated.exitCode}",
                "3",
            ),
        ]);
        let failure = on(&kubectl).wait_for_job("release-v8", QUICK, 60).unwrap();
        kubectl.assert_done();
        assert_eq!(
            failure,
            Some(JobFailure {
                why: "release command failed (exit status 3)".into(),
                timed_out: false,
            })
        );
    }

    #[test]
    fn a_job_stopped_at_its_deadline_ran_past_the_limit() {
        let kubectl = Recorded::new(vec![
            Exchange::new(STATUS, "//DeadlineExceeded"),
            Exchange::new("logs job/release-v8 -n paas-shop --tail=20", ""),
        ]);
        let failure = on(&kubectl)
            .wait_for_job("release-v8", QUICK, 1800)
            .unwrap()
            .unwrap();
        kubectl.assert_done();
        assert!(failure.timed_out);
        assert_eq!(
            failure.why,
            "release command ran past this server's limit of 30m and was stopped"
        );
    }

    #[test]
    fn a_job_whose_pod_is_gone_still_failed() {
        let kubectl = Recorded::new(vec![
            Exchange::new(STATUS, "/1/BackoffLimitExceeded"),
            Exchange::failing("logs job/release-v8 -n paas-shop --tail=20", "not found"),
            Exchange::new(
                "get pods -n paas-shop -l job-name=release-v8 -o jsonpath={.items[*].status.containerStatuses[*].state.terminated.exitCode}",
                "",
            ),
        ]);
        let failure = on(&kubectl)
            .wait_for_job("release-v8", QUICK, 60)
            .unwrap()
            .unwrap();
        kubectl.assert_done();
        assert_eq!(failure.why, "release command failed");
    }

    #[test]
    fn a_job_that_never_ends_is_an_error() {
        let kubectl = Recorded::new(vec![
            Exchange::new(STATUS, "//"),
            Exchange::new(STATUS, "//"),
            Exchange::new(STATUS, "//"),
            Exchange::new("logs job/release-v8 -n paas-shop --tail=20", ""),
        ]);
        let err = on(&kubectl)
            .wait_for_job("release-v8", QUICK, 60)
            .unwrap_err();
        kubectl.assert_done();
        assert!(err.to_string().contains("did not end within"), "{err}");
    }
}
