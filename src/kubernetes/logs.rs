//! `logs` for an app on the cluster: one stream, as Heroku's is, of the
//! pods' lines (read through `kubectl logs --prefix --timestamps`) and
//! the platform's lines for the app (releases, scale, config: written
//! here by `crate::logs::platform`), merged in time order. Here the lines
//! are read and merged; `workflows::logs` runs kubectl and follows.

use std::collections::HashMap;

use super::manifests::{self, APP_LABEL, TYPE_LABEL};
use super::scheduler::OnCluster;
use crate::error::{Error, Result};
use crate::logs::{parse_time, Filter, LogLine};

/// How many pods `kubectl logs -l` reads at once (its default, 5, makes
/// it refuse an app with more pods than that).
const MAX_LOG_REQUESTS: &str = "--max-log-requests=50";

/// A line of `kubectl logs --prefix --timestamps`
/// (`[pod/web-5d9c-x2/web] 2026-12-07T10:00:00.123456789Z GET / 200`) as
/// a line of the stream (`app[web.web-5d9c-x2]: GET / 200`: Kubernetes
/// numbers no pods, so the pod's name stands for the dyno's number).
/// kubectl prefixes every line it reads from a pod, so a line of another
/// shape is not the app's: `None`.
pub fn pod_line(line: &str) -> Option<LogLine> {
    let rest = line.strip_prefix("[pod/")?;
    let (prefix, rest) = rest.split_once("] ")?;
    let (pod, container) = prefix.split_once('/')?;
    // An empty line is the time alone.
    let (stamp, message) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(LogLine {
        at: parse_time(stamp)?,
        source: "app".into(),
        dyno: format!("{container}.{pod}"),
        message: message.to_string(),
    })
}

/// The filter for the pods' lines: their process type was chosen by the
/// label selector (`logs_args`), and a container is named after the type
/// as Kubernetes spells it (`worker-queue` for `worker_queue`).
pub fn pod_filter(filter: &Filter) -> Filter {
    Filter {
        process_type: None,
        ..filter.clone()
    }
}

/// The last `num` lines of the pods' and the platform's, in time order
/// (a pod's line first when both have the same time: it was read first).
pub fn merged_tail(
    pods: Vec<LogLine>,
    platform: Vec<LogLine>,
    filter: &Filter,
    num: usize,
) -> Vec<LogLine> {
    let pod_filter = pod_filter(filter);
    let mut lines: Vec<LogLine> = pods
        .into_iter()
        .filter(|line| pod_filter.matches(line))
        .chain(platform.into_iter().filter(|line| filter.matches(line)))
        .collect();
    // Stable: each source's lines keep their order among equal times.
    lines.sort_by_key(|line| line.at);
    lines.split_off(lines.len().saturating_sub(num))
}

/// The newest line seen of each pod: following again from a time a
/// second or so before (`--since-time` counts whole seconds) repeats the
/// lines of that second, which are left out.
#[derive(Debug, Default)]
pub struct Seen {
    newest: HashMap<String, i128>,
}

impl Seen {
    /// `line` is seen (a line of the backlog, shown or not).
    pub fn note(&mut self, line: &LogLine) {
        let newest = self.newest.entry(line.dyno.clone()).or_insert(line.at);
        *newest = (*newest).max(line.at);
    }

    /// Whether `line` comes after every line seen of its pod; it is seen
    /// from now on.
    pub fn is_new(&mut self, line: &LogLine) -> bool {
        match self.newest.get(&line.dyno) {
            Some(newest) if line.at <= *newest => false,
            _ => {
                self.newest.insert(line.dyno.clone(), line.at);
                true
            }
        }
    }
}

/// `--since-time`'s value for lines written from `nanos` on: RFC 3339 in
/// whole seconds (what the API keeps of it), rounded down.
pub fn since_time(nanos: i128) -> String {
    let seconds = (nanos / 1_000_000_000) as i64;
    let Ok(time) = time::OffsetDateTime::from_unix_timestamp(seconds) else {
        return "1970-01-01T00:00:00Z".into();
    };
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time.format(&format).unwrap_or_default()
}

impl OnCluster<'_> {
    /// The `kubectl logs` arguments for the app's pods (of `process_type`
    /// only, if given): the last `tail` lines of each, or with `since`,
    /// every line from then on, followed.
    pub fn logs_args(&self, process_type: Option<&str>, read: LogRead) -> Vec<String> {
        let mut selector = format!("{APP_LABEL}={}", self.app);
        if let Some(process_type) = process_type {
            selector.push_str(&format!(
                ",{TYPE_LABEL}={}",
                manifests::object_name(process_type)
            ));
        }
        let mut args: Vec<String> = [
            "logs",
            "-n",
            &self.namespace,
            "-l",
            &selector,
            "--prefix",
            "--timestamps",
            MAX_LOG_REQUESTS,
            // A pod just made (its container still being created) or gone
            // meanwhile fails its own stream, not the others'.
            "--ignore-errors",
        ]
        .iter()
        .map(|word| word.to_string())
        .collect();
        match read {
            LogRead::Tail(lines) => args.push(format!("--tail={lines}")),
            LogRead::FollowSince(since) => {
                // With a selector kubectl's default is the last 10 lines.
                args.push("--tail=-1".into());
                args.push(format!("--since-time={since}"));
                args.push("--follow".into());
            }
        }
        args
    }

    /// The last `lines` lines of each of the app's pods (of `process_type`),
    /// read at once.
    pub fn log_backlog(&self, lines: usize, process_type: Option<&str>) -> Result<Vec<LogLine>> {
        let answer = self
            .kubectl
            .run(&self.logs_args(process_type, LogRead::Tail(lines)), None)?;
        if answer.code != 0 {
            return Err(Error::new("`kubectl` could not read the pods' logs")
                .cause(answer.stderr.trim().to_string())
                .hint("`paas logs -s paas` shows the platform's lines alone; `paas kubernetes:connect` names the cluster"));
        }
        Ok(answer.stdout.lines().filter_map(pod_line).collect())
    }
}

/// Which of the pods' lines `kubectl logs` reads.
#[derive(Debug, Clone, Copy)]
pub enum LogRead<'a> {
    /// The last N of each pod.
    Tail(usize),
    /// All from a time on (`since_time`), followed.
    FollowSince(&'a str),
}

#[cfg(test)]
mod tests {
    use super::super::kubectl::{Exchange, Recorded};
    use super::super::scheduler::fixture::on;
    use super::*;

    /// The web lines are what kubectl 1.20.2 and 1.32 both printed for
    /// two pods of a stand-in API server (pod by pod, not by time); a
    /// worker's lines, one of them empty, are added in the same shape.
    const RECORDED: &str = "\
[pod/web-5d9c8b7f6-x2kq4/web] 2026-12-07T10:00:01.500000000Z GET / 200
[pod/web-5d9c8b7f6-x2kq4/web] 2026-12-07T10:00:03.250000000Z GET /about 200
[pod/web-5d9c8b7f6-p7wzn/web] 2026-12-07T10:00:02.000000000Z GET /health 200
[pod/worker-7f9d4c-abcde/worker] 2026-12-07T10:00:00.000001Z tick
[pod/worker-7f9d4c-abcde/worker] 2026-12-07T10:00:04Z 
";

    fn platform(at: &str, message: &str) -> LogLine {
        LogLine {
            at: parse_time(at).unwrap(),
            source: "paas".into(),
            dyno: "api".into(),
            message: message.into(),
        }
    }

    #[test]
    fn pod_lines_join_the_usual_stream_format() {
        let lines: Vec<String> = RECORDED
            .lines()
            .map(|line| pod_line(line).unwrap().heroku_format())
            .collect();
        assert_eq!(
            lines,
            [
                "2026-12-07T10:00:01.500000+00:00 app[web.web-5d9c8b7f6-x2kq4]: GET / 200",
                "2026-12-07T10:00:03.250000+00:00 app[web.web-5d9c8b7f6-x2kq4]: GET /about 200",
                "2026-12-07T10:00:02.000000+00:00 app[web.web-5d9c8b7f6-p7wzn]: GET /health 200",
                "2026-12-07T10:00:00.000001+00:00 app[worker.worker-7f9d4c-abcde]: tick",
                "2026-12-07T10:00:04.000000+00:00 app[worker.worker-7f9d4c-abcde]: ",
            ]
        );
        for other in [
            "No resources found in paas-shop namespace.",
            "[pod/web-1/web] not-a-time GET /",
            "",
        ] {
            assert_eq!(pod_line(other), None, "{other}");
        }
    }

    #[test]
    fn the_backlog_merges_with_the_platforms_lines_in_time_order() {
        let kubectl = Recorded::new(vec![Exchange::new(
            "logs -n paas-shop -l paas.app=shop --prefix --timestamps --max-log-requests=50 --ignore-errors --tail=4",
            RECORDED,
        )]);
        let pods = on(&kubectl).log_backlog(4, None).unwrap();
        kubectl.assert_done();
        let platform = vec![
            platform("2026-12-07T09:59:00Z", "Deploy 1a2b3c4 by ann"),
            platform("2026-12-07T10:00:02.500Z", "Release v8 created by ann"),
        ];
        let shown: Vec<String> = merged_tail(pods, platform, &Filter::default(), 4)
            .iter()
            .map(LogLine::heroku_format)
            .collect();
        assert_eq!(
            shown,
            [
                "2026-12-07T10:00:02.000000+00:00 app[web.web-5d9c8b7f6-p7wzn]: GET /health 200",
                "2026-12-07T10:00:02.500000+00:00 paas[api]: Release v8 created by ann",
                "2026-12-07T10:00:03.250000+00:00 app[web.web-5d9c8b7f6-x2kq4]: GET /about 200",
                "2026-12-07T10:00:04.000000+00:00 app[worker.worker-7f9d4c-abcde]: ",
            ]
        );
    }

    #[test]
    fn filters_apply_to_both_sources() {
        let pods: Vec<LogLine> = RECORDED.lines().filter_map(pod_line).collect();
        let platform = vec![platform("2026-12-07T10:00:02.500Z", "Scaled to web@2")];
        let only_paas = Filter {
            source: Some("paas".into()),
            ..Filter::default()
        };
        let lines = merged_tail(pods.clone(), platform.clone(), &only_paas, 100);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].message, "Scaled to web@2");
        let only_app = Filter {
            source: Some("app".into()),
            ..Filter::default()
        };
        assert_eq!(
            merged_tail(pods.clone(), platform.clone(), &only_app, 100).len(),
            5
        );
        // `-p worker_queue`: kubectl chose the pods; the platform's `api`
        // lines are not the type's.
        let one_type = Filter {
            process_type: Some("worker_queue".into()),
            ..Filter::default()
        };
        assert_eq!(
            merged_tail(pods.clone(), platform.clone(), &one_type, 100).len(),
            5
        );
        let one_pod = Filter {
            dyno: Some("web.web-5d9c8b7f6-p7wzn".into()),
            ..Filter::default()
        };
        assert_eq!(merged_tail(pods, platform, &one_pod, 100).len(), 1);
    }

    #[test]
    fn following_again_leaves_out_lines_already_seen() {
        let mut seen = Seen::default();
        for line in RECORDED.lines().filter_map(pod_line) {
            seen.note(&line);
        }
        // kubectl again from the second before: the same lines, then one new.
        let again =
            format!("{RECORDED}[pod/web-5d9c8b7f6-p7wzn/web] 2026-12-07T10:00:05Z GET /new 200\n");
        let new: Vec<String> = again
            .lines()
            .filter_map(pod_line)
            .filter(|line| seen.is_new(line))
            .map(|line| line.message)
            .collect();
        assert_eq!(new, ["GET /new 200"]);
    }

    #[test]
    fn logs_are_read_by_label_then_followed_from_a_time() {
        let kubectl = Recorded::new(Vec::new());
        let on = on(&kubectl);
        assert_eq!(
            on.logs_args(Some("worker_queue"), LogRead::Tail(100))
                .join(" "),
            "logs -n paas-shop -l paas.app=shop,paas.type=worker-queue --prefix --timestamps \
             --max-log-requests=50 --ignore-errors --tail=100"
        );
        let since = since_time(parse_time("2026-12-07T10:00:04.999Z").unwrap());
        assert_eq!(since, "2026-12-07T10:00:04Z");
        assert_eq!(
            on.logs_args(None, LogRead::FollowSince(&since)).join(" "),
            "logs -n paas-shop -l paas.app=shop --prefix --timestamps --max-log-requests=50 \
             --ignore-errors --tail=-1 --since-time=2026-12-07T10:00:04Z --follow"
        );
    }

    #[test]
    fn a_failed_read_is_an_error_with_kubectls_reason() {
        let kubectl = Recorded::new(vec![Exchange::failing(
            "logs -n paas-shop -l paas.app=shop --prefix --timestamps --max-log-requests=50 --ignore-errors --tail=10",
            "error: You must be logged in to the server (Unauthorized)\n",
        )]);
        let err = on(&kubectl).log_backlog(10, None).unwrap_err();
        kubectl.assert_done();
        assert!(
            err.to_string().contains("could not read the pods' logs"),
            "{err}"
        );
        assert!(format!("{err:?}").contains("Unauthorized"), "{err:?}");
    }
}
