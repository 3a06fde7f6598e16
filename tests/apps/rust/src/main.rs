//! A web app on the standard library alone: an HTTP/1.1 answer per connection.

use std::env;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn answer(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    // Read the request line and headers up to the blank line.
    while reader.read_line(&mut line)? > 0 && line != "\r\n" && line != "\n" {
        line.clear();
    }
    let body = format!(
        "Hello from Rust on {}\n",
        env::var("DYNO").unwrap_or_default()
    );
    let mut length = itoa::Buffer::new();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        length.format(body.len()),
        body
    )
}

fn main() {
    let port = env::var("PORT").unwrap_or_else(|_| "5000".into());
    let listener = TcpListener::bind(("0.0.0.0", port.parse::<u16>().unwrap())).unwrap();
    for stream in listener.incoming().flatten() {
        thread::spawn(move || answer(stream));
    }
}
