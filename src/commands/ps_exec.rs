//! Into a running dyno (#21 point 4): `ps:exec` (a shell or a command in
//! it, with its config vars), `ps:copy` (a file out of it) and `ps:forward`
//! (a local port to a port inside it). The dyno publishes no port: a
//! forwarded connection reaches it through the dyno connector, from inside
//! its network namespace, as the router's do; from a laptop each one is a
//! `ps:connect` over SSH, so the keys need no port forwarding.

use std::io::{IsTerminal, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use super::Ctx;
use crate::cli::PsExecCommand;
use crate::error::{Error, Result};
use crate::runtime::{Dyno, Runtime};
use crate::state::AppDir;

/// How long a forwarded connection waits for the dyno to accept it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The running dyno `name` (`web.1`) of the app.
fn running_dyno(ctx: &Ctx, app: &AppDir, name: &str) -> Result<Dyno> {
    // The newest release's: after a change, the previous release's dyno of
    // that name stays on standby for the uptime window (`probation`).
    ctx.runtime()
        .list(Some(&app.name))?
        .into_iter()
        .filter(|d| d.running && d.name() == name)
        .max_by_key(|d| d.release)
        .ok_or_else(|| {
            Error::new(format!("`{}` has no running dyno `{name}`", app.name))
                .hint(format!("`paas ps -a {}` lists its dynos", app.name))
        })
}

/// Passes a command's exit status on.
fn exited(code: i32) -> Result<()> {
    match code {
        0 => Ok(()),
        code => Err(Error::exit(u8::try_from(code).unwrap_or(1))),
    }
}

/// Runs `ps:exec`, `ps:copy`, `ps:forward` or `ps:connect`.
pub fn run(ctx: &Ctx, command: PsExecCommand) -> Result<()> {
    match command {
        PsExecCommand::Exec { dyno, command } => exec(ctx, &dyno, &command),
        PsExecCommand::Copy { path, dyno, .. } => copy(ctx, &dyno, &path),
        PsExecCommand::Forward {
            port,
            dyno,
            local_port,
        } => forward(ctx, &dyno, port, local_port),
        PsExecCommand::Connect { port, dyno } => connect(ctx, &dyno, port),
    }
}

/// `ps:exec -d web.1 [COMMAND…]`: the command (default `bash`, `/bin/sh`
/// in an image's dyno) inside the running dyno, with a terminal when this
/// side has one.
pub fn exec(ctx: &Ctx, dyno: &str, command: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let dyno = running_dyno(ctx, &app, dyno)?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let command = match command {
        // An image may have no bash; a shell it has if it runs commands.
        [] if dyno.image => vec!["/bin/sh".to_string()],
        [] => vec!["bash".to_string()],
        words => words.to_vec(),
    };
    exited(ctx.runtime().exec_attached(&dyno, &command, tty)?)
}

/// `ps:copy PATH -d web.1`: the file's bytes on stdout (a laptop writes
/// them to a file; on the server, redirect them).
pub fn copy(ctx: &Ctx, dyno: &str, path: &str) -> Result<()> {
    let app = ctx.app()?;
    if std::io::stdout().is_terminal() {
        return Err(
            Error::new("the file would go to the terminal").hint(format!(
                "redirect it: `paas ps:copy {path} -a {} > FILE`",
                app.name
            )),
        );
    }
    let dyno = running_dyno(ctx, &app, dyno)?;
    let command = ["cat".to_string(), "--".to_string(), path.to_string()];
    exited(ctx.runtime().exec_attached(&dyno, &command, false)?)
}

/// `ps:connect PORT -d web.1` (what `ps:forward` runs over SSH): stdin to
/// a connection to the dyno's port, the connection's answers to stdout.
pub fn connect(ctx: &Ctx, dyno: &str, port: u16) -> Result<()> {
    let app = ctx.app()?;
    let dyno = running_dyno(ctx, &app, dyno)?;
    let stream = ctx.runtime().connect(&dyno, port, CONNECT_TIMEOUT)?;
    relay(std::io::stdin(), std::io::stdout(), stream);
    Ok(())
}

/// `ps:forward PORT -d web.1` on the server itself: `127.0.0.1:LOCAL` here
/// to the dyno's port, until interrupted.
pub fn forward(ctx: &Ctx, dyno: &str, port: u16, local: Option<u16>) -> Result<()> {
    let app = ctx.app()?;
    let dyno = running_dyno(ctx, &app, dyno)?;
    let listener = listen(local.unwrap_or(port))?;
    say!(
        "Forwarding {} to port {port} of {} on {}; Ctrl-C stops",
        listener
            .local_addr()
            .map_or(String::new(), |a| a.to_string()),
        dyno.name(),
        app.name
    );
    for client in listener.incoming().flatten() {
        match ctx.runtime().connect(&dyno, port, CONNECT_TIMEOUT) {
            Ok(stream) => {
                let (Ok(reader), Ok(writer)) = (client.try_clone(), client.try_clone()) else {
                    continue;
                };
                std::thread::spawn(move || {
                    relay(reader, writer, stream);
                    let _ = client.shutdown(Shutdown::Both);
                });
            }
            Err(err) => say!(" !     {}", err.message()),
        }
    }
    Ok(())
}

/// The local side of `ps:forward`: a listener on the loopback only.
pub fn listen(port: u16) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).map_err(|err| {
        Error::new(format!("cannot listen on 127.0.0.1:{port}"))
            .cause(err)
            .hint("name a free port with `-p PORT`")
    })
}

/// Copies `input` to `stream` and `stream` to `output`, until the dyno's
/// side ends; the end of `input` is passed on as a half-close. The copy
/// the other way is left to end with its input (the caller closes it).
pub fn relay(mut input: impl Read + Send + 'static, mut output: impl Write, stream: TcpStream) {
    let Ok(mut sending) = stream.try_clone() else {
        return;
    };
    std::thread::spawn(move || {
        pump(&mut input, &mut sending);
        let _ = sending.shutdown(Shutdown::Write);
    });
    let mut receiving = stream;
    pump(&mut receiving, &mut output);
}

/// Copies until the end of `from` (or an error either side), passing each
/// read on at once. Not `std::io::copy`: between a socket and a pipe on
/// Linux it splices, and that waited here for more than a request's bytes
/// before passing any on, so a forwarded request never reached the dyno.
pub fn pump(from: &mut impl Read, to: &mut impl Write) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) if to.write_all(&buffer[..n]).and_then(|()| to.flush()).is_ok() => {}
            Ok(_) => break,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}
