//! Deploy webhooks (#22 point 4): a receiver on loopback gets a push's
//! build and release events, signed as Heroku signs them, and
//! `webhooks:deliveries` says they arrived; receivers that are down or
//! never answer do not slow a push, and show as retrying.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::harness::{text, wait_for, TestServer};

/// What a receiver got: each request's headers (names lowercased) and body.
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A webhook receiver on 127.0.0.1 that answers every request with 200.
fn receiver() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Received = Arc::default();
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let sink = sink.clone();
            std::thread::spawn(move || {
                if let Some(request) = read_request(&stream) {
                    sink.lock().unwrap().push(request);
                    let _ = (&stream).write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            });
        }
    });
    (port, received)
}

fn read_request(stream: &TcpStream) -> Option<(Vec<(String, String)>, String)> {
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(": ") {
            headers.push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map_or(0, |(_, value)| value.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((headers, String::from_utf8(body).unwrap()))
}

/// A listener that takes connections and never answers; they stay open
/// while the test runs.
fn black_hole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    port
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The payload of a request whose `Heroku-Webhook-Hmac-SHA256` is the
/// HMAC-SHA256 of its body keyed with `secret`, as a receiver checks it.
fn verified(secret: &str, (headers, body): &(Vec<(String, String)>, String)) -> Value {
    let signature = headers
        .iter()
        .find(|(name, _)| name == "heroku-webhook-hmac-sha256")
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no signature: {headers:?}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(signature, expected, "the signature of {body}");
    serde_json::from_str(body).unwrap()
}

fn webhook_ids(server: &TestServer, app: &str) -> Vec<(String, String)> {
    let listed: Value =
        serde_json::from_str(&server.ok(&["webhooks", "-a", app, "--json"])).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["url"].as_str().unwrap().to_string(),
                w["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn deliveries(server: &TestServer, app: &str, webhook: &str) -> Vec<Value> {
    let all: Value =
        serde_json::from_str(&server.ok(&["webhooks:deliveries", "-a", app, "--json"])).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .filter(|d| d["webhook"]["id"] == webhook)
        .cloned()
        .collect()
}

#[test]
fn a_push_sends_signed_events_and_dead_receivers_never_slow_it() {
    let server = TestServer::start();
    let repo = server.repo("examples/hello", "hooked");
    repo.push_ok();

    let (port, received) = receiver();
    let secret = "s3cret-known-to-the-receiver";
    let url = format!("http://127.0.0.1:{port}/hooks?token=qu3ry-t0ken");
    // A receiver inside the server's network (here: loopback) is refused
    // until an admin allows such receivers.
    for inside in [
        url.clone(),
        "http://localhost:9/".into(),
        "http://[::1]:9/".into(),
    ] {
        server.refused(
            &["webhooks:add", "-a", "hooked", "-i", "dyno", "-u", &inside],
            "a loopback address: paas sends webhooks only to the internet",
        );
    }
    server.install(&["--allow-private-webhooks", "yes"]);
    let added = server.ok(&[
        "webhooks:add",
        "-a",
        "hooked",
        "-i",
        "api:build,api:release,dyno",
        "-u",
        &url,
        "-s",
        secret,
    ]);
    assert!(added.contains("Added webhook"), "{added}");
    assert!(
        !added.contains(secret),
        "a given secret is not shown: {added}"
    );
    let listed = server.ok(&["webhooks", "-a", "hooked"]);
    assert!(
        listed.contains(&url) && listed.contains("api:build,api:release,dyno  sync"),
        "{listed}"
    );
    let hook = webhook_ids(&server, "hooked").remove(0).1;
    assert!(!server
        .ok(&["webhooks:info", "-a", "hooked", &hook[..8]])
        .contains(secret));

    repo.write("CHANGES", "one\n");
    repo.commit("second");
    let started = Instant::now();
    repo.push_ok();
    let answered_push = started.elapsed();

    // The build's two events and the release's, each signed, in order:
    // a build is recorded `succeeded` once its release runs.
    let events = wait_for(
        "the push's build and release events",
        Duration::from_secs(60),
        || {
            let got = received.lock().unwrap();
            let events: Vec<Value> = got.iter().map(|r| verified(secret, r)).collect();
            let kinds: Vec<String> = events
                .iter()
                .filter(|e| e["resource"] != "dyno")
                .map(|e| format!("{} {} {}", e["resource"], e["action"], e["data"]["status"]))
                .collect();
            match kinds.len() >= 3 {
                true => Ok(events),
                false => Err(kinds.join("\n")),
            }
        },
    );
    let kinds: Vec<String> = events
        .iter()
        .filter(|e| e["resource"] != "dyno")
        .map(|e| format!("{} {} {}", e["resource"], e["action"], e["data"]["status"]))
        .collect();
    assert_eq!(
        kinds,
        [
            r#""build" "create" "pending""#,
            r#""release" "create" "succeeded""#,
            r#""build" "update" "succeeded""#,
        ]
    );
    let build = &events
        .iter()
        .find(|e| e["action"] == "update" && e["resource"] == "build")
        .unwrap();
    let release = &events.iter().find(|e| e["resource"] == "release").unwrap();
    assert_eq!(build["data"]["source_blob"]["version"], repo.head());
    assert_eq!(
        build["data"]["release"]["version"],
        release["data"]["version"]
    );
    assert_eq!(build["previous_data"]["status"], "pending");
    assert_eq!(release["data"]["app"]["name"], "hooked");
    assert_eq!(release["data"]["current"], true);
    assert_eq!(release["webhook_metadata"]["webhook"]["id"], hook.as_str());
    assert_eq!(
        release["webhook_metadata"]["event"]["include"],
        "api:release"
    );
    assert!(release["published_at"].is_string() && release["actor"]["email"].is_string());
    // The new web dyno came up.
    assert!(
        events.iter().any(|e| e["resource"] == "dyno"
            && e["data"]["name"] == "web.1"
            && e["data"]["state"] == "up"
            && e["previous_data"]["state"] == "starting"),
        "{events:?}"
    );

    wait_for(
        "the deliveries listed as succeeded",
        Duration::from_secs(30),
        || {
            let sent = deliveries(&server, "hooked", &hook);
            let done = sent.len() >= events.len()
                && sent.iter().all(|d| {
                    d["status"] == "succeeded"
                        && d["num_attempts"] == 1
                        && d["last_attempt"]["code"] == 200
                });
            if done {
                Ok(())
            } else {
                Err(format!("{sent:#?}"))
            }
        },
    );
    assert!(server
        .ok(&["webhooks:deliveries", "-a", "hooked", "-s", "succeeded"])
        .contains("api:release create"));
    let sent = deliveries(&server, "hooked", &hook);
    let released = sent
        .iter()
        .find(|d| d["event"]["include"] == "api:release")
        .unwrap();
    let info = server.ok(&[
        "webhooks:deliveries:info",
        "-a",
        "hooked",
        released["id"].as_str().unwrap(),
    ]);
    assert!(
        info.contains("Status:        succeeded") && info.contains("\"resource\": \"release\""),
        "{info}"
    );

    // Two receivers that will never take a delivery: one that never
    // answers, one that is not there.
    let silent = format!("http://127.0.0.1:{}/hooks", black_hole());
    let gone = format!("http://127.0.0.1:{}/hooks", closed_port());
    for dead in [&silent, &gone] {
        // Without `-s`: a secret is made and shown, once, on stdout.
        let added = server.cmd(&[
            "webhooks:add",
            "-a",
            "hooked",
            "-i",
            "api:build,api:release,dyno",
            "-u",
            dead,
        ]);
        assert!(added.status.success(), "{}", text(&added));
        let stdout = String::from_utf8(added.stdout).unwrap();
        let made = stdout.lines().last().unwrap_or_default();
        assert!(
            stdout.starts_with("=== Webhooks Signing Secret\n")
                && made.len() == 64
                && made.chars().all(|c| c.is_ascii_hexdigit()),
            "{stdout}"
        );
    }
    let before = received.lock().unwrap().len();
    repo.write("CHANGES", "two\n");
    repo.commit("third");
    let started = Instant::now();
    repo.push_ok();
    let dead_push = started.elapsed();
    // Sent from the push, each of this push's half-dozen events would wait
    // 5 s or more for the silent receiver (a push here takes about one).
    // Queued, they cost it nothing but noise.
    assert!(
        dead_push < answered_push + Duration::from_secs(5),
        "the push took {dead_push:?} with dead receivers, {answered_push:?} without"
    );

    let ids = webhook_ids(&server, "hooked");
    let id_of = |url: &str| ids.iter().find(|(u, _)| u == url).unwrap().1.clone();
    for (dead, error) in [(&silent, "the server sent nothing"), (&gone, "refused")] {
        let id = id_of(dead);
        wait_for(
            &format!("deliveries to {dead} retrying"),
            Duration::from_secs(60),
            || {
                let sent = deliveries(&server, "hooked", &id);
                let first = sent.first().cloned().unwrap_or_default();
                let retrying = first["status"] == "retrying"
                    && first["last_attempt"]["code"].is_null()
                    && first["last_attempt"]["error_class"]
                        .as_str()
                        .is_some_and(|e| e.contains(error))
                    && first["next_attempt_at"].is_string()
                    // The rest wait behind it, in order.
                    && sent[1..].iter().all(|d| d["status"] == "pending");
                if retrying {
                    Ok(())
                } else {
                    Err(format!("{sent:#?}"))
                }
            },
        );
    }
    let retrying = server.ok(&["webhooks:deliveries", "-a", "hooked", "-s", "retrying"]);
    assert!(retrying.lines().count() >= 3, "{retrying}");
    // The receiver that answers is not held up by the others.
    wait_for(
        "the third push's release event",
        Duration::from_secs(30),
        || {
            let got = received.lock().unwrap();
            let releases = got[before..]
                .iter()
                .filter(|r| verified(secret, r)["resource"] == "release")
                .count();
            if releases == 1 {
                Ok(())
            } else {
                Err(format!("{releases} release events"))
            }
        },
    );

    // One-off dynos send their `dyno` `create` event too, as on Heroku.
    let before = received.lock().unwrap().len();
    server.ok(&["run", "-a", "hooked", "true"]);
    server.ok(&["run:detached", "-a", "hooked", "true"]);
    wait_for("the one-off dynos' events", Duration::from_secs(30), || {
        let got = received.lock().unwrap();
        let commands: Vec<Value> = got[before..]
            .iter()
            .map(|r| verified(secret, r))
            .filter(|e| e["resource"] == "dyno" && e["action"] == "create")
            .filter(|e| e["data"]["type"] == "run")
            .map(|e| e["data"]["command"].clone())
            .collect();
        if commands.len() == 2 && commands.iter().all(|c| c == "true") {
            Ok(())
        } else {
            Err(format!("{commands:?}"))
        }
    });

    // Secrets stay out of the audit trail; removing takes the deliveries.
    let audit = server.ok(&["audit", "-a", "hooked"]);
    assert!(
        audit.contains("webhooks:add") && !audit.contains(secret),
        "{audit}"
    );
    // Nor a token in the URL's query, there or in the app's log; the
    // app's people see it in the listing (checked above).
    assert!(!audit.contains("qu3ry-t0ken"), "{audit}");
    let log = server.ok(&["logs", "-a", "hooked", "-n", "1000"]);
    assert!(
        log.contains("Add webhook") && !log.contains("qu3ry-t0ken"),
        "{log}"
    );
    server.ok(&[
        "webhooks:update",
        "-a",
        "hooked",
        &id_of(&gone),
        "-l",
        "notify",
    ]);
    let info = server.ok(&["webhooks:info", "-a", "hooked", &id_of(&gone)]);
    assert!(info.contains("Level:          notify"), "{info}");
    server.ok(&["webhooks:remove", "-a", "hooked", &id_of(&silent)]);
    assert!(!server.ok(&["webhooks", "-a", "hooked"]).contains(&silent));
    assert!(deliveries(&server, "hooked", &id_of(&silent)).is_empty());
    server.refused(
        &[
            "webhooks:add",
            "-a",
            "hooked",
            "-i",
            "api:formation",
            "-u",
            &url,
        ],
        "`api:formation` is not an event paas sends",
    );
    server.refused(
        &[
            "webhooks:add",
            "-a",
            "hooked",
            "-i",
            "dyno",
            "-u",
            "ftp://example.com/",
        ],
        "not a webhook URL",
    );
}
