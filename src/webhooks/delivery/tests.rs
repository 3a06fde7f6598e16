use std::io::{BufReader, Write};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc::{channel, Receiver};

use super::*;
use crate::state::AppName;
use crate::webhooks::events::Actor;

#[test]
fn signatures_are_base64_hmac_sha256() {
    // RFC 4231, test case 2.
    assert_eq!(
        sign("Jefe", b"what do ya want for nothing?"),
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    );
}

#[test]
fn sync_deliveries_back_off_for_an_hour_then_fail() {
    let mut tried = vec![0];
    let mut attempts = 1;
    while let Some(next) = next_attempt(0, attempts, *tried.last().unwrap()) {
        tried.push(next);
        attempts += 1;
    }
    assert_eq!(
        tried,
        [0, 15, 45, 105, 225, 465, 945, 1545, 2145, 2745, 3345, 3600]
    );
    // Started late (the daemon was down): the hour still counts from the event.
    assert_eq!(next_attempt(0, 1, 3590), Some(3600));
    assert_eq!(next_attempt(0, 1, 7200), None);
}

fn event(n: u32) -> Event {
    Event {
        id: crate::webhooks::new_id(),
        created_at: crate::release::now_rfc3339(),
        include: "api:release".into(),
        resource: "release".into(),
        action: "create".into(),
        actor: Actor {
            email: "alice".into(),
            id: "alice".into(),
        },
        data: json!({"version": n, "status": "succeeded"}),
        previous_data: json!({}),
    }
}

#[test]
fn payloads_have_the_shape_of_herokus() {
    let delivery = Delivery {
        id: "d".into(),
        webhook: "w".into(),
        level: Level::Sync,
        created_at: "2026-11-21T10:00:00Z".into(),
        updated_at: "2026-11-21T10:00:00Z".into(),
        status: Status::Pending,
        num_attempts: 0,
        next_attempt_at: None,
        last_attempt: None,
        event: Event {
            id: "e".into(),
            created_at: "2026-11-21T10:00:00Z".into(),
            ..event(7)
        },
    };
    let body: serde_json::Value =
        serde_json::from_slice(&payload(&delivery, "a", "2026-11-21T10:00:01Z")).unwrap();
    assert_eq!(
        body,
        json!({
            "id": "e",
            "created_at": "2026-11-21T10:00:00Z",
            "updated_at": "2026-11-21T10:00:00Z",
            "published_at": "2026-11-21T10:00:01Z",
            "resource": "release",
            "action": "create",
            "actor": {"email": "alice", "id": "alice"},
            "previous_data": {},
            "data": {"version": 7, "status": "succeeded"},
            "version": "application/vnd.heroku+json; version=3",
            "sequence": null,
            "webhook_metadata": {
                "attempt": {"id": "a"},
                "delivery": {"id": "d"},
                "event": {"id": "e", "include": "api:release"},
                "webhook": {"id": "w"},
            },
        })
    );
}

/// An app with `app.toml` (so `queued` sees it) and a webhook to `url`.
fn app_with_webhook(dir: &tempfile::TempDir, url: &str, level: Level) -> (Root, AppDir, Webhook) {
    let root = Root::new(dir.path());
    let app = root.app(&AppName::parse("web").unwrap());
    fs::create_dir_all(&app.path).unwrap();
    fs::write(app.settings_file(), "").unwrap();
    let webhook = Webhook {
        id: crate::webhooks::new_id(),
        url: url.into(),
        include: vec!["api:release".into()],
        level,
        secret: "s3cret".into(),
        authorization: Some("Bearer t0ken".into()),
        created_at: crate::release::now_rfc3339(),
        updated_at: crate::release::now_rfc3339(),
    };
    crate::webhooks::save(&app, &webhook).unwrap();
    (root, app, webhook)
}

/// A receiver answering each POST with the status in `answer`, handing
/// back what it read.
fn receiver(answer: &'static AtomicU16) -> (u16, Receiver<String>) {
    let (sender, received) = channel();
    let sender = std::sync::Mutex::new(sender);
    let port = crate::net::test_server::serve(move |stream| {
        let mut reader = BufReader::new(stream);
        while let Some(request) = crate::net::test_server::read_request(&mut reader) {
            sender.lock().unwrap().send(request).unwrap();
            let status = answer.load(Ordering::SeqCst);
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, received)
}

/// Rewrites a queued delivery.
fn change(app: &AppDir, delivery: &Delivery, edit: impl FnOnce(&mut Delivery)) {
    let mut changed = delivery.clone();
    edit(&mut changed);
    let path = queue_dir(app, &delivery.webhook).join(format!("{}.json", delivery.id));
    fs::write(path, encode(&changed).unwrap()).unwrap();
}

#[test]
fn a_queue_goes_out_signed_in_order_and_waits_behind_a_failure() {
    static ANSWER: AtomicU16 = AtomicU16::new(500);
    let (port, requests) = receiver(&ANSWER);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let (root, app, webhook) = app_with_webhook(&dir, &url, Level::Sync);
    for n in 1..=3 {
        enqueue(&app, &webhook, &event(n)).unwrap();
    }
    assert_eq!(queued(&root).len(), 1);

    // The first fails: it waits 15 s, and the two behind it with it.
    send_due(&app, &webhook.id, Reach::Anywhere);
    let first = requests.try_recv().unwrap();
    assert!(first.contains("\"version\":1"), "{first}");
    assert!(requests.try_recv().is_err(), "only the first was sent");
    let queue = list(&app, &webhook);
    assert_eq!(
        queue.iter().map(|d| d.status).collect::<Vec<_>>(),
        [Status::Retrying, Status::Pending, Status::Pending]
    );
    let attempt = queue[0].last_attempt.as_ref().unwrap();
    assert_eq!(attempt.code, Some(500));
    assert_eq!(attempt.error.as_deref(), Some("the receiver answered 500"));
    let next = crate::clock::rfc3339_to_unix(queue[0].next_attempt_at.as_deref().unwrap()).unwrap();
    assert!((next - now() - 15).abs() <= 2, "{next}");
    send_due(&app, &webhook.id, Reach::Anywhere);
    assert!(requests.try_recv().is_err(), "nothing is due yet");

    // Due again, and the receiver answers: all three go, in order.
    ANSWER.store(200, Ordering::SeqCst);
    change(&app, &queue[0], |d| {
        d.next_attempt_at = Some(rfc3339(now() - 1))
    });
    send_due(&app, &webhook.id, Reach::Anywhere);
    for n in 1..=3 {
        let request = requests.try_recv().unwrap();
        assert!(request.starts_with("POST /hooks HTTP/1.1\r\n"), "{request}");
        assert!(request.contains(&format!("\"version\":{n}")), "{request}");
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        for header in [
            "Content-Type: application/json",
            "Authorization: Bearer t0ken",
            "User-Agent: paas-webhooks",
        ] {
            assert!(head.contains(header), "{header} in {head}");
        }
        // Header names are case-insensitive; hyper writes this one
        // `Heroku-Webhook-Hmac-Sha256`.
        let signature = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(": ")?;
                name.eq_ignore_ascii_case(SIGNATURE_HEADER).then_some(value)
            })
            .unwrap_or_else(|| panic!("no signature in {head}"));
        assert_eq!(signature, sign("s3cret", body.as_bytes()));
    }
    let delivered = list(&app, &webhook);
    assert!(delivered.iter().all(|d| d.status == Status::Succeeded));
    assert_eq!(delivered[0].num_attempts, 2);
    assert_eq!(delivered[0].next_attempt_at, None);
    assert!(queued(&root).is_empty(), "the queue is empty");
    assert_eq!(
        fs::read_dir(finished_dir(&app, &webhook.id))
            .unwrap()
            .count(),
        3
    );
    assert_eq!(find(&app, &delivered[2].id).unwrap(), delivered[2]);
    assert!(find(&app, "nope").is_err());
}

#[test]
fn deliveries_fail_once_their_hour_is_over_or_at_once_for_notify() {
    // A closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let (_, app, webhook) = app_with_webhook(&dir, &url, Level::Sync);
    for n in 1..=2 {
        enqueue(&app, &webhook, &event(n)).unwrap();
    }
    let two_hours_ago = rfc3339(now() - 7200);
    for delivery in list(&app, &webhook) {
        change(&app, &delivery, |d| d.created_at = two_hours_ago.clone());
    }
    send_due(&app, &webhook.id, Reach::Anywhere);
    let failed = list(&app, &webhook);
    assert!(
        failed.iter().all(|d| d.status == Status::Failed),
        "{failed:?}"
    );
    assert_eq!(failed[0].num_attempts, 1);
    assert!(failed[0].last_attempt.as_ref().unwrap().error.is_some());
    assert_eq!(failed[1].num_attempts, 0, "expired behind the first");
    assert_eq!(
        failed[1].last_attempt.as_ref().unwrap().error.as_deref(),
        Some("not sent within the hour: the deliveries before it were failing")
    );

    let (_, app, notify) = app_with_webhook(&dir, &url, Level::Notify);
    for n in 1..=2 {
        enqueue(&app, &notify, &event(n)).unwrap();
    }
    send_due(&app, &notify.id, Reach::Anywhere);
    let tried = list(&app, &notify);
    assert!(tried
        .iter()
        .all(|d| d.status == Status::Failed && d.num_attempts == 1));
}

#[test]
fn the_last_hundred_finished_deliveries_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_, app, webhook) = app_with_webhook(&dir, "http://127.0.0.1:9/", Level::Sync);
    let finished = finished_dir(&app, &webhook.id);
    let names: Vec<String> = (0..KEEP + 5).map(|n| format!("{n:04}.json")).collect();
    for name in &names {
        fs::write(finished.join(name), "{}").unwrap();
    }
    prune(&app, &webhook.id);
    let mut left: Vec<String> = fs::read_dir(&finished)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, names[5..]);
}

#[test]
fn a_receiver_in_the_servers_network_gets_nothing_unless_the_install_allows_it() {
    static ANSWER: AtomicU16 = AtomicU16::new(200);
    let (port, requests) = receiver(&ANSWER);
    let dir = tempfile::tempdir().unwrap();
    // A name, as DNS may send one to loopback after the webhook was added.
    let url = format!("http://localhost:{port}/hooks");
    let (_, app, webhook) = app_with_webhook(&dir, &url, Level::Sync);
    enqueue(&app, &webhook, &event(1)).unwrap();
    send_due(&app, &webhook.id, Reach::Internet);
    assert!(requests.try_recv().is_err(), "nothing reached the receiver");
    let queue = list(&app, &webhook);
    let error = queue[0].last_attempt.as_ref().unwrap().error.clone();
    let error = error.unwrap_or_default();
    assert!(
        error.starts_with("not sent: `localhost` resolves to ")
            && error.contains("a loopback address: paas connects only to the internet"),
        "{error}"
    );
    change(&app, &queue[0], |d| {
        d.next_attempt_at = Some(rfc3339(now() - 1))
    });
    send_due(&app, &webhook.id, Reach::Anywhere);
    assert!(requests.try_recv().is_ok(), "sent once allowed");
}
