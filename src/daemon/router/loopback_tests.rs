//! The whole router on 127.0.0.1, in front of a stand-in dyno: the request
//! edges of issue #19 (point 5) on both paths, the HTTP/1.1 one (HTTP/1.1
//! requests it takes) and hyper's (HTTP/1.0, chunked uploads, and what the
//! HTTP/1.1 path hands over), and the limits on client connections (point
//! 1: shedding, idle and late heads), with short times. In a file of their
//! own: they go through admission, both paths and the request log, not one
//! file's code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{AppRoutes, ConnectionLimits, Router, RouterParts};
use crate::routes::Backend;
use crate::state::Root;

/// A router for `myapp.localhost`, whose one dyno answers `ok` and keeps
/// the heads it was sent.
struct Loopback {
    router: SocketAddr,
    root: tempfile::TempDir,
    dyno_heads: Arc<Mutex<Vec<String>>>,
}

impl Loopback {
    async fn start() -> Loopback {
        Loopback::start_with(ConnectionLimits::for_open_files(4096)).await
    }

    async fn start_with(limits: ConnectionLimits) -> Loopback {
        let dyno = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let root = tempfile::tempdir().unwrap();
        // The dyno connector, standing in: every connection leads to the dyno.
        let connector_socket = root.path().join("dyno-connector.sock");
        crate::runtime::netns::serve_stand_in(&connector_socket, dyno.local_addr().unwrap());
        let backend = Backend {
            container: "paas-test-myapp-web.1".into(),
            dyno: "web.1".into(),
            netns: Some(crate::runtime::NetnsRef { pid: 1, inode: 1 }),
            standby: false,
        };
        let dyno_heads = Arc::default();
        tokio::spawn(serve_dyno(dyno, Arc::clone(&dyno_heads)));
        let routes = Arc::new(AppRoutes::new("myapp", vec![backend]));
        let table = Arc::new(ArcSwap::from_pointee(HashMap::from([(
            "myapp".to_string(),
            routes,
        )])));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let router = Router::new(
            Arc::new(ArcSwap::from_pointee("localhost".to_string())),
            listener.local_addr().unwrap().port(),
            None,
            RouterParts {
                table,
                in_flight: Arc::default(),
                wake: Arc::new(|_: &str| {}),
                challenges: Arc::default(),
                connector_socket,
                limits,
                dashboard_certificate: Arc::default(),
            },
            Root::new(root.path()),
        );
        let router_address = listener.local_addr().unwrap();
        tokio::spawn(router.serve(listener));
        Loopback {
            router: router_address,
            root,
            dyno_heads,
        }
    }

    /// Sends `request` as it is and reads the answer until the router
    /// closes the connection.
    async fn send(&self, request: &str) -> String {
        let mut client = TcpStream::connect(self.router).await.unwrap();
        client.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer))
            .await
            .expect("the router closes the connection")
            .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn dyno_heads(&self) -> Vec<String> {
        self.dyno_heads.lock().unwrap().clone()
    }

    /// The app's router lines, once one holding `expected` is written.
    async fn router_log(&self, expected: &str) -> String {
        let file = self.root.path().join("apps/myapp/logs/platform.log");
        for _ in 0..100 {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.contains(expected) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no router line with {expected:?} in:\n{}",
            std::fs::read_to_string(&file).unwrap_or_default()
        );
    }
}

/// A dyno: reads a head and the body its framing says, answers `ok`, and
/// closes. A chunked body that never ends gets no answer, as from an app
/// still reading it.
async fn serve_dyno(listener: TcpListener, heads: Arc<Mutex<Vec<String>>>) {
    loop {
        let (mut connection, _) = listener.accept().await.unwrap();
        let heads = Arc::clone(&heads);
        tokio::spawn(async move {
            let mut input = Vec::new();
            let mut buffer = [0u8; 4096];
            let head_end = loop {
                if let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
                match connection.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(read) => input.extend_from_slice(&buffer[..read]),
                }
            };
            let head = String::from_utf8_lossy(&input[..head_end]).into_owned();
            heads.lock().unwrap().push(head.clone());
            if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked")
            {
                while !input.ends_with(b"0\r\n\r\n") {
                    match connection.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => input.extend_from_slice(&buffer[..read]),
                    }
                }
            }
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            let _ = connection.write_all(answer.as_bytes()).await;
        });
    }
}

fn status_of(answer: &str) -> &str {
    answer.get(9..12).unwrap_or(answer)
}

#[tokio::test]
async fn two_host_lines_are_refused_on_either_path() {
    let router = Loopback::start().await;
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        for second in ["other.localhost", "myapp.localhost"] {
            let answer = router
                .send(&format!(
                    "GET / {version}\r\nHost: myapp.localhost\r\nHost: {second}\r\n\r\n"
                ))
                .await;
            assert_eq!(status_of(&answer), "400", "{answer}");
            assert!(
                answer.contains("The request has more than one Host header."),
                "{answer}"
            );
            assert!(answer.contains("connection: close\r\n"), "{answer}");
        }
    }
    assert!(router.dyno_heads().is_empty(), "nothing reached the app");
}

#[tokio::test]
async fn a_request_without_a_valid_host_is_refused_except_from_http_1_0() {
    let router = Loopback::start().await;
    let missing = router.send("GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_of(&missing), "400", "{missing}");
    assert!(missing.contains("An HTTP/1.1 request must have a Host header."));
    let invalid = router
        .send("GET / HTTP/1.1\r\nHost: evil@myapp.localhost\r\n\r\n")
        .await;
    assert_eq!(status_of(&invalid), "400", "{invalid}");
    // HTTP/1.0 has no `Host` to require: no app is named.
    let old = router.send("GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_of(&old), "404", "{old}");
    assert!(router.dyno_heads().is_empty());
}

#[tokio::test]
async fn an_absolute_target_is_routed_by_its_authority_and_sent_in_origin_form() {
    let router = Loopback::start().await;
    let answer = router
        .send(
            "GET http://MyApp.localhost/x?y=1 HTTP/1.1\r\nHost: nosuch.localhost\r\n\
             Connection: close\r\n\r\n",
        )
        .await;
    assert_eq!(status_of(&answer), "200", "{answer}");
    let heads = router.dyno_heads();
    let [head] = heads.as_slice() else {
        panic!("one request reached the dyno: {heads:?}");
    };
    assert!(head.starts_with("GET /x?y=1 HTTP/1.1\r\n"), "{head}");
    let lowercase = head.to_ascii_lowercase();
    assert!(
        lowercase.contains("\r\nhost: myapp.localhost\r\n"),
        "{head}"
    );
    assert!(!lowercase.contains("nosuch"), "{head}");
    router
        .router_log("at=info method=GET path=\"/x?y=1\" host=myapp.localhost ")
        .await;
    // And the other way round: the target's host has no app.
    let elsewhere = router
        .send(
            "GET http://nosuch.localhost/ HTTP/1.1\r\nHost: myapp.localhost\r\n\
             Connection: close\r\n\r\n",
        )
        .await;
    assert_eq!(status_of(&elsewhere), "404", "{elsewhere}");
    assert_eq!(router.dyno_heads().len(), 1);
}

#[tokio::test]
async fn a_malformed_chunk_is_the_clients_400_not_the_apps_h13() {
    let router = Loopback::start().await;
    let answer = router
        .send(
            "POST /upload HTTP/1.1\r\nHost: myapp.localhost\r\n\
             Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        )
        .await;
    assert_eq!(status_of(&answer), "400", "{answer}");
    assert!(
        answer.contains("The request's chunked body is malformed."),
        "{answer}"
    );
    let log = router
        .router_log(
            "at=error code=H26 desc=\"Request Error\" cause=\"bad chunk\" method=POST \
             path=\"/upload\" host=myapp.localhost",
        )
        .await;
    assert!(log.contains("dyno=web.1 "), "{log}");
    assert!(log.contains(" status=400 "), "{log}");
    assert!(!log.contains("H13"), "{log}");
}

#[tokio::test]
async fn a_client_leaving_mid_chunk_is_logged_as_the_clients_doing_too() {
    let router = Loopback::start().await;
    let mut client = TcpStream::connect(router.router).await.unwrap();
    client
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: myapp.localhost\r\n\
              Transfer-Encoding: chunked\r\n\r\n5\r\nhel",
        )
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    let log = router
        .router_log("at=error code=H27 desc=\"Client Request Interrupted\" method=POST")
        .await;
    assert!(log.contains(" status=499 "), "{log}");
    assert!(!log.contains("H13"), "{log}");
}

#[tokio::test]
async fn a_trailing_dot_names_the_same_host_on_either_path() {
    let router = Loopback::start().await;
    for (version, host) in [
        ("HTTP/1.1", "myapp.localhost."),
        ("HTTP/1.0", "myapp.localhost."),
        ("HTTP/1.1", "MyApp.localhost.:80"),
    ] {
        let answer = router
            .send(&format!(
                "GET / {version}\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(status_of(&answer), "200", "{version} {host}: {answer}");
        assert!(answer.ends_with("ok"), "{answer}");
    }
    assert_eq!(router.dyno_heads().len(), 3);
}

/// Limits short enough to be seen at work in a test.
fn short_limits() -> ConnectionLimits {
    let mut limits = ConnectionLimits::for_open_files(4096);
    limits.idle = Duration::from_millis(500);
    limits.head = Duration::from_millis(400);
    limits
}

/// `took` is `expected`, give or take what a busy machine adds to a
/// timer (it never fires early).
fn about(took: Duration, expected: Duration) {
    assert!(
        took >= expected && took < expected + Duration::from_millis(400),
        "took {took:?}, not {expected:?}"
    );
}

/// Reads one `ok` answer, whole, off a kept-alive connection.
async fn read_answer(client: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\nok") {
        let mut buffer = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buffer))
            .await
            .expect("an answer")
            .unwrap();
        assert!(read > 0, "closed before the answer: {answer:?}");
        answer.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// How long until the router closes `client`, which sends `trickle` a
/// byte every 50 ms from now (or nothing), and reads nothing more.
async fn closed_after(client: TcpStream, trickle: &'static [u8]) -> Duration {
    let started = tokio::time::Instant::now();
    let (mut reader, mut writer) = client.into_split();
    let trickling = tokio::spawn(async move {
        for byte in trickle {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::future::pending::<()>().await
    });
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut rest)).await;
    trickling.abort();
    assert!(read.is_ok(), "the router kept the connection open");
    assert!(rest.is_empty(), "the router answered: {rest:?}");
    started.elapsed()
}

const TRICKLE: &[u8] =
    b"GET / HTTP/1.1\r\nHost: myapp.localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test]
async fn a_kept_alive_connection_closes_when_idle_on_either_path() {
    let limits = short_limits();
    let router = Loopback::start_with(limits).await;
    for request in [
        "GET / HTTP/1.1\r\nHost: myapp.localhost\r\n\r\n",
        // An absolute target: hyper's path.
        "GET http://myapp.localhost/ HTTP/1.1\r\nHost: myapp.localhost\r\n\r\n",
    ] {
        let mut client = TcpStream::connect(router.router).await.unwrap();
        for _ in 0..2 {
            client.write_all(request.as_bytes()).await.unwrap();
            let answer = read_answer(&mut client).await;
            assert_eq!(status_of(&answer), "200", "{answer}");
            // Less than the idle time between requests keeps it open.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        client.write_all(request.as_bytes()).await.unwrap();
        read_answer(&mut client).await;
        about(closed_after(client, b"").await, limits.idle);
    }
    assert_eq!(router.dyno_heads().len(), 6);
}

#[tokio::test]
async fn a_head_that_trickles_is_closed_at_its_deadline_on_either_path() {
    let limits = short_limits();
    let router = Loopback::start_with(limits).await;
    // A new connection: its first head within the limit of the accept.
    let client = TcpStream::connect(router.router).await.unwrap();
    about(closed_after(client, TRICKLE).await, limits.head);
    // One that sends nothing, the same.
    let client = TcpStream::connect(router.router).await.unwrap();
    about(closed_after(client, b"").await, limits.head);
    // A later head: within the limit of its first byte, though that
    // came close to the idle limit.
    for request in [
        "GET / HTTP/1.1\r\nHost: myapp.localhost\r\n\r\n",
        "GET http://myapp.localhost/ HTTP/1.1\r\nHost: myapp.localhost\r\n\r\n",
    ] {
        let mut client = TcpStream::connect(router.router).await.unwrap();
        client.write_all(request.as_bytes()).await.unwrap();
        read_answer(&mut client).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        about(closed_after(client, TRICKLE).await, limits.head);
    }
    // A head that is whole in time is served, however it came.
    let mut client = TcpStream::connect(router.router).await.unwrap();
    for part in b"GET / HTTP/1.1\r\nHost: myapp.localhost\r\n\r\n".chunks(12) {
        client.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(status_of(&read_answer(&mut client).await), "200");
}

/// A connection to the router from `source`, another loopback address.
async fn try_connect_from(source: &str, router: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    socket.connect(router).await
}

async fn connect_from(source: &str, router: SocketAddr) -> TcpStream {
    try_connect_from(source, router).await.unwrap()
}

/// Whether a new connection from `source` is shed: reset at once (so soon
/// that the connect may see the reset), with nothing read.
async fn shed(source: &str, router: SocketAddr) -> bool {
    match try_connect_from(source, router).await {
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(client) => closed_after(client, TRICKLE).await < Duration::from_millis(200),
    }
}

#[tokio::test]
async fn connections_past_a_clients_limit_are_shed_at_once_and_others_served() {
    let mut limits = ConnectionLimits::for_open_files(4096);
    (limits.per_client, limits.in_all) = (3, 5);
    let router = Loopback::start_with(limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.2", router.router).await);
    }
    // The fourth is closed (reset) before a byte is read from it.
    assert!(shed("127.0.0.2", router.router).await);
    // Another client is served meanwhile.
    let answer = router
        .send("GET / HTTP/1.1\r\nHost: myapp.localhost\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(status_of(&answer), "200", "{answer}");
    // One closed makes room for one more.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = connect_from("127.0.0.2", router.router).await;
    again
        .write_all(b"GET / HTTP/1.1\r\nHost: myapp.localhost\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(status_of(&read_answer(&mut again).await), "200");

    // Past the limit in all, every client is shed.
    held.push(again);
    held.push(connect_from("127.0.0.3", router.router).await);
    held.push(connect_from("127.0.0.4", router.router).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(shed("127.0.0.5", router.router).await);
    assert!(shed("127.0.0.1", router.router).await);
}
