//! The client against servers made in the test: framing, limits, keep-alive,
//! redirects, TLS.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Instant;

use super::*;
use crate::net::test_server::{read_request, serve};

/// A server answering each request on a connection with `answer`, then
/// closing it after `keep` requests; it hands back what it read.
fn answering(answer: &'static [u8], keep: usize) -> (u16, mpsc::Receiver<String>) {
    let (sender, received) = mpsc::channel();
    let sender = std::sync::Mutex::new(sender);
    let port = serve(move |stream| {
        let mut reader = BufReader::new(stream);
        for _ in 0..keep {
            let Some(request) = read_request(&mut reader) else {
                return;
            };
            let _ = sender.lock().unwrap().send(request);
            reader.get_mut().write_all(answer).unwrap();
        }
    });
    (port, received)
}

const SHORT: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    read: Some(Duration::from_millis(300)),
    write: Some(Duration::from_millis(300)),
};

async fn open(port: u16, timeouts: Timeouts) -> Result<Connection, Error> {
    Connection::open(connect("127.0.0.1", port, Reach::Anywhere, false, None, timeouts).await?)
        .await
}

fn post(port: u16, body: &'static [u8]) -> Request<Bytes> {
    let target = HttpTarget::parse(&format!("http://127.0.0.1:{port}/in")).unwrap();
    request(Method::POST, &target, "paas-test")
        .body(Bytes::from_static(body))
        .unwrap()
}

#[test]
fn a_get_sends_its_head_and_keeps_at_most_the_limit_of_the_body() {
    let (port, received) = answering(
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        1,
    );
    let url = format!("http://u:p@127.0.0.1:{port}/page?x=1#top");
    assert_eq!(
        get(&url, Reach::Anywhere, 1024),
        Ok((200, b"hello world".to_vec()))
    );
    assert_eq!(get(&url, Reach::Anywhere, 5), Ok((200, b"hello".to_vec())));
    let request = received.recv().unwrap();
    for line in [
        "GET /page?x=1 HTTP/1.1\r\n",
        &format!("Host: 127.0.0.1:{port}\r\n"),
        "User-Agent: paas\r\n",
        "Authorization: Basic dTpw\r\n",
        "Connection: close\r\n",
    ] {
        assert!(request.contains(line), "{line:?} in {request:?}");
    }
}

#[test]
fn bodies_are_read_by_their_framing() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
    let (port, _) = answering(chunked, 1);
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(get(&url, Reach::Anywhere, 1024).unwrap().1, b"hello, world");
    assert_eq!(get(&url, Reach::Anywhere, 7).unwrap().1, b"hello, ");
    // HTTP/1.0 without a length: the body ends with the connection.
    let (port, _) = answering(b"HTTP/1.0 404 Not Found\r\n\r\nuntil the end", 1);
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(
        get(&url, Reach::Anywhere, 1024),
        Ok((404, b"until the end".to_vec()))
    );
    // A chunked body cut short is an error, not a shorter page.
    let (port, _) = answering(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        1,
    );
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(
        get(&url, Reach::Anywhere, 1024),
        Err(format!(
            "fetching `{url}`: the server closed the connection before the end of its answer"
        ))
    );
}

#[test]
fn what_goes_wrong_is_said() {
    let (port, _) = answering(b"SSH-2.0-OpenSSH_9.2\r\n", 1);
    let url = format!("http://127.0.0.1:{port}/");
    let error = get(&url, Reach::Anywhere, 1024).unwrap_err();
    assert!(
        error.starts_with(&format!(
            "fetching `{url}`: the server did not answer in HTTP ("
        )),
        "{error}"
    );
    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(
        get(&url, Reach::Anywhere, 1024),
        Err(format!(
            "fetching `{url}`: Connection refused (os error 111)"
        ))
    );
    assert_eq!(
        get("ftp://127.0.0.1/", Reach::Anywhere, 1024),
        Err("`ftp://127.0.0.1/` is not an http:// or https:// URL".into())
    );
}

#[test]
fn a_kept_alive_connection_carries_the_next_request_after_a_body_past_the_limit() {
    let (port, received) = answering(
        b"HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz",
        2,
    );
    block_on(async {
        let mut connection = open(port, SHORT).await?;
        let first = connection.send(post(port, b"one"), 3).await?;
        assert_eq!(
            (first.status(), &first.body[..], first.keep_alive),
            (200, &b"abc"[..], true)
        );
        // At rest longer than the read limit: nothing is timed then.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let second = connection.send(post(port, b"two"), 100).await?;
        assert_eq!(second.body.len(), 26);
        Ok(())
    })
    .unwrap();
    let first = received.recv().unwrap();
    assert!(
        first.starts_with("POST /in HTTP/1.1\r\n") && first.ends_with("\r\n\r\none"),
        "{first}"
    );
    assert!(first.contains("Content-Length: 3\r\n"), "{first}");
    assert!(received.recv().unwrap().ends_with("two"));
}

#[test]
fn a_connection_the_server_closed_is_known_as_such() {
    // The server answers, then closes the connection a moment later:
    // the next request finds it closed.
    let port = serve(|stream| {
        let mut reader = BufReader::new(stream);
        read_request(&mut reader);
        let _ = reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        std::thread::sleep(Duration::from_millis(100));
    });
    let error = block_on(async {
        let mut connection = open(port, SHORT).await?;
        assert!(connection.send(post(port, b"one"), 10).await?.keep_alive);
        tokio::time::sleep(Duration::from_millis(300)).await;
        connection.send(post(port, b"two"), 10).await.map(|_| ())
    })
    .unwrap_err();
    assert!(error.closed_before_answering(), "{error}");
    // `Connection: close` and HTTP/1.0 say so themselves.
    for answer in [
        &b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"[..],
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ] {
        let (port, _) = answering(answer, 1);
        let response =
            block_on(async { open(port, SHORT).await?.send(post(port, b"x"), 10).await }).unwrap();
        assert!(!response.keep_alive);
    }
}

#[test]
fn a_server_that_stops_answering_times_out_one_that_trickles_does_not() {
    let port = serve(|stream| {
        let mut reader = BufReader::new(stream);
        while read_request(&mut reader).is_some() {}
    });
    let started = Instant::now();
    let error = block_on(async {
        open(port, SHORT)
            .await?
            .send(post(port, b"x"), 10)
            .await
            .map(|_| ())
    })
    .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(error.to_string(), "the server sent nothing for 0.3 s");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A byte every 30 ms: each read comes within the limit.
    let port = serve(|stream| {
        let mut reader = BufReader::new(stream);
        read_request(&mut reader);
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nslow!";
        for byte in answer {
            std::thread::sleep(Duration::from_millis(30));
            if reader.get_mut().write_all(&[*byte]).is_err() {
                return;
            }
        }
    });
    let response =
        block_on(async { open(port, SHORT).await?.send(post(port, b"x"), 10).await }).unwrap();
    assert_eq!(&response.body[..], b"slow!");

    // `within` bounds the whole exchange.
    let error = block_on(within(Duration::from_millis(500), async {
        open(port, SHORT).await?.send(post(port, b"x"), 10).await
    }))
    .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(error.to_string(), "no whole answer within 0.5 s");
}

#[test]
fn downloads_follow_redirects_and_fail_on_errors() {
    let other = serve(|stream| {
        let mut reader = BufReader::new(stream);
        let request = read_request(&mut reader).unwrap();
        // Credentials stay with the URL's own origin.
        let answer = if request.contains("Authorization") {
            "401 No"
        } else {
            "200 OK"
        };
        let _ = write!(
            reader.get_mut(),
            "HTTP/1.1 {answer}\r\nContent-Length: 5\r\n\r\nother"
        );
    });
    let port = serve(move |stream| {
        let mut reader = BufReader::new(stream);
        let request = read_request(&mut reader).unwrap();
        let path = request.split(' ').nth(1).unwrap().to_string();
        let answer = match path.as_str() {
            "/dump" => {
                "HTTP/1.1 302 Found\r\nLocation: moved/here\r\nContent-Length: 0\r\n\r\n".into()
            }
            "/moved" => "HTTP/1.1 308 Moved\r\nLocation: /gone\r\nContent-Length: 0\r\n\r\n".into(),
            "/moved/here" if request.contains("Authorization: Basic dTpw") => {
                "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nPGDM".into()
            }
            "/elsewhere" => {
                format!("HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:{other}/x\r\n\r\n")
            }
            "/loop" => "HTTP/1.1 307 Again\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n".into(),
            "/ftp" => {
                "HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/\r\nContent-Length: 0\r\n\r\n"
                    .into()
            }
            _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into(),
        };
        let _ = reader.get_mut().write_all(answer.as_bytes());
    });
    let fetch = |path: &str| {
        let mut out = Vec::new();
        let url = format!("http://u:p@127.0.0.1:{port}{path}");
        download(
            &url,
            Reach::Anywhere,
            &mut out,
            Duration::from_secs(2),
            Duration::from_secs(10),
        )
        .map(|()| out)
    };
    assert_eq!(fetch("/dump"), Ok(b"PGDM".to_vec()));
    assert_eq!(fetch("/elsewhere"), Ok(b"other".to_vec()));
    let base = format!("http://u:p@127.0.0.1:{port}");
    assert_eq!(
        fetch("/gone"),
        Err(format!("fetching `{base}/gone`: it answered 404 Not Found"))
    );
    assert_eq!(
        fetch("/moved"),
        Err(format!(
            "fetching `{base}/moved`: `http://127.0.0.1:{port}/gone`, where it moved, answered 404 Not Found"
        ))
    );
    assert_eq!(
        fetch("/loop"),
        Err(format!("fetching `{base}/loop`: more than 50 redirects"))
    );
    assert_eq!(
        fetch("/ftp"),
        Err(format!(
            "fetching `{base}/ftp`: it moved to `ftp://127.0.0.1/`, which is not http:// or https://"
        ))
    );
    // The limit bounds it all, a server that never answers included.
    let silent = serve(|stream| {
        let mut reader = BufReader::new(stream);
        read_request(&mut reader);
        std::thread::sleep(Duration::from_secs(3));
    });
    let url = format!("http://127.0.0.1:{silent}/");
    let started = Instant::now();
    assert_eq!(
        download(
            &url,
            Reach::Anywhere,
            &mut Vec::new(),
            Duration::from_secs(2),
            Duration::from_millis(300)
        ),
        Err(format!("fetching `{url}`: no whole answer within 0.3 s"))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn gets_and_downloads_for_the_internet_send_nothing_into_the_servers_network() {
    let (port, received) = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1);
    let url = format!("http://localhost:{port}/dump");
    let said = "a loopback address: paas connects only to the internet";
    let error = get(&url, Reach::Internet, 1024).unwrap_err();
    assert!(
        error.starts_with(&format!("fetching `{url}`: `localhost` ")),
        "{error}"
    );
    assert!(error.contains(said), "{error}");
    let error = download(
        &url,
        Reach::Internet,
        &mut Vec::new(),
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .unwrap_err();
    assert!(error.contains(said), "{error}");
    assert!(received.try_recv().is_err(), "nothing was sent");
    assert_eq!(get(&url, Reach::Anywhere, 1024), Ok((200, b"ok".to_vec())));
}

#[test]
fn tls_connections_check_the_server_against_the_trusted_authorities() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let certificate = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.clone()], key)
            .unwrap(),
    );
    let port = serve(move |stream| {
        let session = rustls::ServerConnection::new(server.clone()).unwrap();
        let mut reader = BufReader::new(rustls::StreamOwned::new(session, stream));
        if read_request(&mut reader).is_some() {
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret");
            let _ = reader.get_mut().flush();
        }
    });
    let client = |trusted: bool| {
        let mut roots = rustls::RootCertStore::empty();
        if trusted {
            roots.add(certificate.clone()).unwrap();
        }
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    };
    let fetch = |tls: Arc<ClientConfig>| {
        block_on(async {
            let stream =
                connect("localhost", port, Reach::Anywhere, true, Some(&tls), SHORT).await?;
            let target = HttpTarget::parse(&format!("https://localhost:{port}/")).unwrap();
            let request = request(Method::GET, &target, "paas").body(Bytes::new())?;
            Connection::open(stream).await?.send(request, 100).await
        })
    };
    assert_eq!(&fetch(client(true)).unwrap().body[..], b"secret");
    let refused = fetch(client(false)).map(|_| ()).unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("invalid peer certificate: "),
        "{refused}"
    );
    // Asked for TLS with nothing to check it against: no connection.
    let error = block_on(connect(
        "localhost",
        port,
        Reach::Anywhere,
        true,
        None,
        SHORT,
    ))
    .map(|_| ())
    .unwrap_err();
    assert_eq!(error.to_string(), "no trusted authorities to check it");
    let _ = TcpStream::connect(("127.0.0.1", port));
}
