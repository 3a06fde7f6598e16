//! The router's request log: an id for each request (`X-Request-Id`), what
//! the request did (`RequestEntry`), and the thread that writes the lines,
//! in Heroku's router format, to each app's log stream. Both router paths
//! fill an entry and hand it to `RequestLog::send`, which also counts it
//! in the app's metrics.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::state::{AppName, Root};

/// Request ids: the client's when it sends a sane one, else a fresh one.
#[derive(Default)]
pub(super) struct RequestIds {
    counter: AtomicU64,
    seed: RandomState,
}

impl RequestIds {
    /// The id a request goes by: the client's `X-Request-Id`, if sane.
    pub(super) fn for_header(&self, client_id: Option<&str>) -> String {
        if let Some(id) = client_id.filter(|id| is_sane_request_id(id)) {
            return id.to_string();
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let half = |salt: u64| {
            let mut hasher = self.seed.build_hasher();
            hasher.write_u64(n);
            hasher.write_u64(salt);
            hasher.finish()
        };
        format!("{:016x}{:016x}", half(1), half(2))
    }
}

/// 20 to 200 characters of letters, digits and `-_+=/`, as Heroku accepts.
fn is_sane_request_id(id: &str) -> bool {
    (20..=200).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+=/".contains(c))
}

/// What one request did, for the router's log line: begun by admission,
/// filled in by the path that forwards the request.
pub(super) struct RequestEntry {
    pub(super) app: String,
    pub(super) method: String,
    pub(super) path: String,
    pub(super) host: String,
    pub(super) request_id: String,
    pub(super) forwarded_for: std::net::IpAddr,
    pub(super) dyno: Option<String>,
    /// How long connecting to the dyno took (zero on a kept-alive connection).
    pub(super) connect: Option<Duration>,
    pub(super) status: u16,
    pub(super) bytes: Option<u64>,
    pub(super) service: Duration,
    pub(super) error: Option<(&'static str, &'static str)>,
    /// What exactly went wrong, for the codes that say (H26).
    pub(super) cause: Option<&'static str>,
}

impl RequestEntry {
    /// `at=info method=GET path="/" host=… request_id=… fwd="…" dyno=web.1 connect=1ms service=14ms status=200 bytes=255 protocol=http`
    fn write_line(&self, line: &mut String) {
        use std::fmt::Write;
        let _ = match self.error {
            // Maintenance is the owner's choice, not a failure.
            Some((code @ "H80", desc)) => write!(line, "at=info code={code} desc=\"{desc}\""),
            Some((code, desc)) => write!(line, "at=error code={code} desc=\"{desc}\""),
            None => write!(line, "at=info"),
        };
        if let Some(cause) = self.cause {
            let _ = write!(line, " cause=\"{cause}\"");
        }
        let _ = write!(line, " method={} path=\"", self.method);
        for (index, part) in self.path.split('"').enumerate() {
            if index > 0 {
                line.push_str("%22");
            }
            line.push_str(part);
        }
        let _ = write!(
            line,
            "\" host={} request_id={} fwd=\"{}\" dyno={} ",
            self.host,
            self.request_id,
            self.forwarded_for,
            self.dyno.as_deref().unwrap_or(""),
        );
        if let Some(took) = self.connect {
            let _ = write!(line, "connect={}ms ", took.as_millis());
        }
        let _ = write!(
            line,
            "service={}ms status={}",
            self.service.as_millis(),
            self.status
        );
        if let Some(bytes) = self.bytes {
            let _ = write!(line, " bytes={bytes}");
        }
        line.push_str(" protocol=http");
    }

    #[cfg(test)]
    fn line(&self) -> String {
        let mut line = String::new();
        self.write_line(&mut line);
        line
    }
}

/// Router lines go to a writer thread through a bounded queue: a slow disk
/// drops log lines, never slows requests. The writer wakes on a tick, not
/// per line: waking a thread for every request cost more than routing it.
#[derive(Clone)]
pub(super) struct RequestLog {
    sender: Sender<(i128, RequestEntry)>,
    /// Lines sent and not yet taken by the writer. The bound is kept here,
    /// not by a `sync_channel`, which allocates and touches room for every
    /// line up front (4.5 MiB of the daemon's memory, always).
    queued: Arc<AtomicUsize>,
}

impl RequestLog {
    /// Starts the writer thread; every router thread shares the log.
    pub(super) fn start(root: Root) -> RequestLog {
        let (sender, receiver) = mpsc::channel();
        let queued: Arc<AtomicUsize> = Arc::default();
        let taken = queued.clone();
        std::thread::spawn(move || write_request_lines(&root, receiver, &taken));
        RequestLog { sender, queued }
    }

    /// Counts the request in the app's metrics (#23), and queues a line,
    /// or drops the line when the writer is that far behind (the count
    /// stays: it costs no queue).
    pub(super) fn send(&self, entry: RequestEntry) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        crate::metrics::collect::count(&crate::metrics::collect::Request {
            app: &entry.app,
            at: u64::try_from(now / 1_000_000_000).unwrap_or(0),
            status: entry.status,
            bytes_out: entry.bytes.unwrap_or(0),
            service: entry.service,
            router_error: entry.error.map(|(code, _)| code),
        });
        if self.queued.fetch_add(1, Ordering::Relaxed) >= REQUEST_LOG_QUEUE {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let _ = self.sender.send((now, entry));
    }
}

/// Lines waiting for the writer: at its tick, room for over 200,000
/// requests a second.
const REQUEST_LOG_QUEUE: usize = 16_384;
const REQUEST_LOG_TICK: Duration = Duration::from_millis(50);

fn write_request_lines(
    root: &Root,
    receiver: Receiver<(i128, RequestEntry)>,
    queued: &AtomicUsize,
) {
    let mut line = String::new();
    while let Ok(first) = receiver.recv() {
        // Batch what is waiting: one write per app, not per request.
        let mut by_app: HashMap<String, String> = HashMap::new();
        for (at, entry) in std::iter::once(first).chain(receiver.try_iter().take(REQUEST_LOG_QUEUE))
        {
            queued.fetch_sub(1, Ordering::Relaxed);
            line.clear();
            entry.write_line(&mut line);
            let text = match by_app.get_mut(&entry.app) {
                Some(text) => text,
                None => by_app.entry(entry.app).or_default(),
            };
            crate::logs::push_platform_line(text, at, "router", &line);
        }
        for (app, text) in by_app {
            if let Ok(name) = AppName::parse(&app) {
                crate::logs::append_platform_text(&root.app(&name), &text);
            }
        }
        std::thread::sleep(REQUEST_LOG_TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_keep_sane_ones_and_make_the_rest() {
        let ids = RequestIds::default();
        let sane = "f9ed4675f1c53513c61a3b3b4e25b4c0";
        assert_eq!(ids.for_header(Some(sane)), sane);
        let made = ids.for_header(Some("short"));
        assert_eq!(made.len(), 32);
        assert_ne!(made, ids.for_header(None), "each request gets its own");
        assert!(!is_sane_request_id("has spaces in it, twenty+"));
    }

    #[test]
    fn router_lines_in_heroku_format() {
        let entry = RequestEntry {
            app: "myapp".into(),
            method: "GET".into(),
            path: "/a?b=\"c\"".into(),
            host: "myapp.localhost".into(),
            request_id: "abc".into(),
            forwarded_for: [127, 0, 0, 1].into(),
            dyno: Some("web.1".into()),
            connect: Some(Duration::from_millis(1)),
            status: 200,
            bytes: Some(255),
            service: Duration::from_millis(14),
            error: None,
            cause: None,
        };
        assert_eq!(
            entry.line(),
            "at=info method=GET path=\"/a?b=%22c%22\" host=myapp.localhost request_id=abc fwd=\"127.0.0.1\" dyno=web.1 connect=1ms service=14ms status=200 bytes=255 protocol=http"
        );
        let failed = RequestEntry {
            error: Some(("H14", "No web processes running")),
            dyno: None,
            connect: None,
            status: 503,
            bytes: None,
            ..entry
        };
        assert!(failed
            .line()
            .starts_with("at=error code=H14 desc=\"No web processes running\" method=GET"));
        // The client's fault, as Heroku logs it (#19, point 5).
        let bad_chunk = RequestEntry {
            error: Some(("H26", "Request Error")),
            cause: Some("bad chunk"),
            status: 400,
            ..failed
        };
        assert!(bad_chunk.line().starts_with(
            "at=error code=H26 desc=\"Request Error\" cause=\"bad chunk\" method=GET"
        ));
    }
}
