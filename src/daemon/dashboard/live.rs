//! What the page's script fetches: the graphs' data (`metrics.json`) and
//! the live log tail (server-sent events, read from the app's log files
//! as `paas logs --tail` reads them).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::{blocking, full, not_found, views, with_safety_headers, Body, Range};
use crate::logins::Session;
use crate::logs::Reader;
use crate::metrics::{AppPoint, AppSeries};
use crate::state::{AppDir, Root};

/// How much of each log file the tail starts with.
const TAIL_BYTES: u64 = 16 * 1024;
/// Lines the tail starts with.
const TAIL_LINES: usize = 100;
/// How often the log files are read for new lines.
const LOG_POLL: Duration = Duration::from_millis(500);
/// A comment this often keeps the stream open through idle times.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// A stream ends after this; the browser's EventSource opens a new one.
const STREAM_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// How often a stream checks the session may still see the app: a
/// logout, a removed key or collaborator ends it within this.
const ACCESS_RECHECK: Duration = Duration::from_secs(30);

/// `GET /apps/APP/metrics.json?range=1h|24h|7d`: the graphs' series, for
/// the page's script to redraw them each minute (the page itself comes
/// with them, `graphs_json`).
pub async fn metrics(root: &Root, session: &Session, app: &str, range: Range) -> Response<Body> {
    // Off the router's threads: reading the app's settings and series.
    let (root, holder, app) = (root.clone(), session.holder.clone(), app.to_string());
    let body = blocking(move || {
        views::visible_app(&root, &holder, &app).map(|(dir, _)| graphs_json(&root, &dir, range))
    })
    .await;
    let Some(body) = body else {
        return not_found(session);
    };
    let mut response = Response::new(full(body.to_string()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_safety_headers(response.headers_mut());
    response
}

/// The app's graphs over `range` as the page's script draws them.
pub fn graphs_json(root: &Root, app: &AppDir, range: Range) -> Value {
    let until = crate::crashes::now().max(0) as u64;
    let since = until.saturating_sub(range.seconds());
    match read_series(root, app, since, until, range.step_secs()) {
        Ok(series) => graph_data(&series),
        Err(err) => json!({ "available": false, "error": err.message() }),
    }
}

/// The app's metrics from `since` to `until` in steps: the one place the
/// dashboard reads them (`crate::metrics`, as `paas metrics` does).
fn read_series(
    root: &Root,
    app: &AppDir,
    since: u64,
    until: u64,
    step_secs: u64,
) -> crate::error::Result<AppSeries> {
    crate::metrics::read(root, &app.name, since, until, step_secs)
}

/// The series as the page's script draws them: each a list of
/// `[unix seconds, value]`, `null` where there is no value (no requests).
fn graph_data(series: &AppSeries) -> Value {
    let per_minute = 60.0 / series.step_secs as f64;
    let at = |p: &AppPoint| p.start;
    let line = |value: &dyn Fn(&AppPoint) -> Option<f64>| -> Vec<Value> {
        series
            .points
            .iter()
            .map(|p| json!([at(p), value(p)]))
            .collect()
    };
    let mut memory: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for point in &series.dynos {
        memory
            .entry(&point.dyno)
            .or_default()
            .push(json!([point.start, point.rss_bytes as f64 / 1048576.0]));
    }
    json!({
        "available": true,
        "since": series.since,
        "until": series.until,
        "step": series.step_secs,
        "throughput": { "requests a minute": line(&|p| Some(p.requests as f64 * per_minute)) },
        "latency": {
            "p50": line(&|p| p.p50_ms),
            "p95": line(&|p| p.p95_ms),
            "p99": line(&|p| p.p99_ms),
        },
        "errors": {
            "4xx": line(&|p| Some(p.status[2] as f64)),
            "5xx": line(&|p| Some(p.status[3] as f64)),
            "router errors": line(&|p| Some(p.router_errors.values().sum::<u64>() as f64)),
        },
        "memory": memory,
    })
}

/// `GET /apps/APP/logs`: the latest lines, then new ones as they are
/// written, as server-sent events (one `data:` line per log line).
pub async fn log_stream(
    root: &Root,
    session: &Session,
    session_id: &str,
    app: &str,
) -> Response<Body> {
    let (root, holder, app) = (root.clone(), session.holder.clone(), app.to_string());
    let opened = {
        let (root, app) = (root.clone(), app.clone());
        blocking(move || {
            views::visible_app(&root, &holder, &app)
                .map(|(dir, _)| Reader::near_end(&dir, TAIL_BYTES))
        })
        .await
    };
    let Some(mut reader) = opened else {
        return not_found(session);
    };
    let session_id = session_id.to_string();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut checked = started;
        let mut first = true;
        let mut quiet = Duration::ZERO;
        while started.elapsed() < STREAM_LIFETIME {
            if checked.elapsed() >= ACCESS_RECHECK {
                checked = tokio::time::Instant::now();
                let (root, id, app) = (root.clone(), session_id.clone(), app.clone());
                if !blocking(move || super::still_sees(&root, &id, &app)).await {
                    return;
                }
            }
            let (lines, back) = blocking(move || {
                let lines = reader.read_new();
                (lines, reader)
            })
            .await;
            reader = back;
            let lines = if first {
                first = false;
                lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec()
            } else {
                lines
            };
            let mut event = String::new();
            for line in &lines {
                // A line holds no newline; `data:` carries it whole.
                event.push_str("data: ");
                event.push_str(&line.heroku_format().replace(['\r', '\n'], " "));
                event.push_str("\n\n");
            }
            if event.is_empty() && quiet >= KEEPALIVE {
                event.push_str(": still here\n\n");
            }
            if event.is_empty() {
                quiet += LOG_POLL;
            } else {
                quiet = Duration::ZERO;
                // The page is gone: the stream ends.
                if sender.send(Bytes::from(event)).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(LOG_POLL).await;
        }
    });
    let mut response = Response::new(EventBody { receiver }.boxed());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    with_safety_headers(headers);
    response
}

/// A body of what the tail's task sends, until it ends.
struct EventBody {
    receiver: tokio::sync::mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|sent| sent.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::DynoPoint;

    #[test]
    fn graphs_get_rates_percentiles_errors_and_memory() {
        let point = |start, requests, p50: Option<f64>| AppPoint {
            start,
            requests,
            status: [requests, 0, 1, 2],
            router_errors: [("H12".to_string(), 2)].into(),
            p50_ms: p50,
            p95_ms: p50.map(|v| v * 2.0),
            p99_ms: None,
            bytes_out: 0,
        };
        let series = AppSeries {
            app: "web".into(),
            step_secs: 300,
            since: 0,
            until: 600,
            points: vec![point(0, 50, Some(10.0)), point(300, 0, None)],
            dynos: vec![DynoPoint {
                start: 0,
                dyno: "web.1".into(),
                rss_bytes: 64 * 1048576,
                quota_bytes: None,
                cpu_percent: 1.0,
            }],
        };
        let data = graph_data(&series);
        assert_eq!(data["throughput"]["requests a minute"][0], json!([0, 10.0]));
        assert_eq!(data["latency"]["p50"][1], json!([300, null]));
        assert_eq!(data["latency"]["p95"][0], json!([0, 20.0]));
        assert_eq!(data["errors"]["5xx"][0], json!([0, 2.0]));
        assert_eq!(data["errors"]["router errors"][0], json!([0, 2.0]));
        assert_eq!(data["memory"]["web.1"][0], json!([0, 64.0]));
    }
}
