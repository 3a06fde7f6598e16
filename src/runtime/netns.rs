//! Connections to web dynos made inside the dyno's own network namespace.
//! Dynos publish no port: a rootless container's published port is served
//! by `rootlessport`, a userspace proxy (two processes, 13 MiB per dyno)
//! that copies every byte twice more: on this machine it halved what a dyno
//! could serve (52k against 115k requests/s) and used more CPU than the
//! router.
//!
//! A helper runs in podman's user namespace (it joins that of podman's
//! pause process at its start), where it may enter the dynos' network
//! namespaces. Asked for a dyno's `PID INODE`,
//! it checks that the process's network namespace is still that inode (so a
//! pid reused after the dyno ended never leads elsewhere), connects to the
//! dynos' port from inside it and hands the connected socket to the daemon
//! (SCM_RIGHTS); from then on the router and the dyno talk through the
//! kernel alone. Dynos publish no port, so this is the only way in: for the
//! router, and for `app.json` HTTP checks (`connect_dyno_blocking`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncWriteExt, Interest};

use crate::error::{Context, Result};
use crate::runtime::{NetnsRef, DYNO_PORT};
use crate::state::Root;

/// How long the helper waits for a dyno to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the daemon waits for the helper's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(6);
/// The longest pause before starting a helper that ended again: short, as
/// the router cannot reach dynos without it.
const RESTART_PAUSE_MAX: Duration = Duration::from_secs(5);
/// How long a connection waits for a helper that is not there (starting,
/// or starting again) before it fails.
const HELPER_WAIT: Duration = Duration::from_secs(3);

/// Where the helper listens for the daemon.
pub fn socket_path(root: &Root) -> PathBuf {
    root.run_dir().join("dyno-connector.sock")
}

/// Keeps the helper running while the daemon runs: started again when it
/// ends (after a pause that grows while it keeps ending at once), its end
/// logged. Meanwhile the router cannot reach dynos (503, H21).
pub fn keep_helper_running(root: Root) {
    std::thread::spawn(move || {
        let mut pause = Duration::from_secs(1);
        let mut last_said = String::new();
        loop {
            let started = Instant::now();
            let ended = spawn_helper(&root).and_then(|mut helper| {
                // Its lifeline: `wait` would close it.
                let _stdin = helper.stdin.take();
                helper
                    .wait()
                    .context(|| "waiting for the dyno connector".into())
            });
            let said = match ended {
                Ok(status) => format!("ended ({status})"),
                Err(err) => err.report().trim_end().to_string(),
            };
            // Said once while it keeps ending the same way (no podman, a
            // rootful one): not every minute.
            if said != last_said {
                eprintln!(
                    "paas daemon: the dyno connector {said}; the router cannot reach dynos until it is back"
                );
                last_said = said;
            }
            pause = if started.elapsed() > RESTART_PAUSE_MAX {
                Duration::from_secs(1)
            } else {
                (pause * 2).min(RESTART_PAUSE_MAX)
            };
            std::thread::sleep(pause);
        }
    });
}

/// Starts the helper, which joins podman's user namespace itself. It
/// lives as long as the returned child's stdin is open: until the daemon
/// ends, however it ends.
fn spawn_helper(root: &Root) -> Result<Child> {
    if podman_pause_pid().is_none() {
        // Any rootless podman command starts the pause process, which
        // stays: `podman unshare true` is the cheapest (`run` resets
        // podman's state first if killed processes left it stale).
        let _ = crate::runtime::podman::run(&["unshare", "true"]);
    }
    std::process::Command::new(root.bin())
        .arg("--root")
        .arg(&root.path)
        .args(["dyno-connector", "--socket"])
        .arg(socket_path(root))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(forward_stderr)
        .context(|| "starting the dyno connector".into())
}

/// The helper's lines go out through the daemon's own stderr, line by
/// line: a log file the daemon begins anew (`daemon::log_file`) takes them
/// too, where an inherited descriptor would write on into the old file.
fn forward_stderr(mut child: Child) -> Child {
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
            }
        });
    }
    child
}

/// The pid of rootless podman's pause process, whose user namespace holds
/// every container of this user: podman writes it under the runtime dir.
fn podman_pause_pid() -> Option<i32> {
    let runtime_dir = crate::runtime::podman::runtime_dir();
    let text = std::fs::read_to_string(runtime_dir.join("libpod/tmp/pause.pid")).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// Moves this process into podman's user namespace, where it has the
/// rights to enter the dynos' network namespaces. Done in-process instead
/// of under `podman unshare`, whose process would only wait (30 MiB).
/// The kernel lets only a single-threaded process change its user
/// namespace: call it before any thread starts.
fn join_podman_user_namespace() -> Result<()> {
    let pid = podman_pause_pid().ok_or_else(|| {
        crate::error::Error::new("podman's pause process is not running")
            .hint("any podman command starts it; the daemon does before it starts the connector")
    })?;
    let target = File::open(format!("/proc/{pid}/ns/user"))
        .context(|| format!("opening the user namespace of podman's pause process ({pid})"))?;
    let own = std::fs::metadata("/proc/self/ns/user")
        .context(|| "reading this process's user namespace".into())?;
    let theirs = target
        .metadata()
        .context(|| "reading podman's user namespace".into())?;
    if own.ino() == theirs.ino() {
        // Already inside (started under `podman unshare`).
        return Ok(());
    }
    // SAFETY: setns on an open namespace file, in a single-threaded process.
    if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWUSER) } != 0 {
        return Err(
            crate::error::Error::new("could not join podman's user namespace")
                .cause(io::Error::last_os_error()),
        );
    }
    Ok(())
}

/// The helper's body (`paas dyno-connector`, started by the daemon).
pub fn serve_helper(socket: &Path) -> Result<()> {
    join_podman_user_namespace()?;
    // A daemon that hung up must not kill the helper (`main` restores
    // SIGPIPE's default for the CLI).
    // SAFETY: setting a signal's disposition to ignore.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let _ = std::fs::remove_file(socket);
    let listener =
        UnixListener::bind(socket).context(|| format!("listening on `{}`", socket.display()))?;
    std::thread::spawn(|| {
        // The daemon holds the other end: its end is the helper's.
        let _ = io::copy(&mut io::stdin(), &mut io::sink());
        std::process::exit(0);
    });
    for daemon in listener.incoming() {
        match daemon {
            Ok(daemon) => {
                std::thread::spawn(move || answer(daemon));
            }
            // Out of fds, say: waited out, not spun on.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Ok(())
}

/// Answers a daemon connection's one question, a dyno's `PID INODE` and
/// the port (`$PORT` when left out) on a line: `+` with the socket; `-` when the dyno refused (it does not
/// listen, or is gone); `?` for anything else.
fn answer(daemon: UnixStream) -> io::Result<()> {
    let mut line = String::new();
    BufReader::new(&daemon).read_line(&mut line)?;
    let connected = match parse_question(&line) {
        Some((netns, port)) => connect_inside(netns, port),
        None => Err(io::ErrorKind::InvalidInput.into()),
    };
    match connected {
        Ok(dyno) => send_fd(&daemon, dyno.as_raw_fd()),
        Err(err) if refused(&err) => (&daemon).write_all(b"-"),
        Err(_) => (&daemon).write_all(b"?"),
    }
}

fn refused(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
    )
}

fn question(netns: NetnsRef, port: u16) -> String {
    format!("{} {} {port}\n", netns.pid, netns.inode)
}

/// `PID INODE [PORT]`: a helper of this version answers a daemon of the
/// one before, which asks for `$PORT` without naming it.
fn parse_question(line: &str) -> Option<(NetnsRef, u16)> {
    let mut words = line.split_whitespace();
    let netns = NetnsRef {
        pid: words.next()?.parse().ok()?,
        inode: words.next()?.parse().ok()?,
    };
    let port = match words.next() {
        Some(port) => port.parse().ok().filter(|p| *p > 0)?,
        None => DYNO_PORT,
    };
    words.next().is_none().then_some((netns, port))
}

/// The network namespace `netns` names, if its process still has it: a
/// pid taken by another process since is `NotFound`, like a pid gone.
fn open_netns(netns: NetnsRef) -> io::Result<File> {
    let file = File::open(format!("/proc/{}/ns/net", netns.pid))?;
    if file.metadata()?.ino() != netns.inode {
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok(file)
}

/// Connects to the dynos' port on the loopback of a dyno's network
/// namespace. On a thread of its own: a thread that entered a namespace
/// cannot come back (that takes rights outside podman's user namespace),
/// so it ends.
fn connect_inside(netns: NetnsRef, port: u16) -> io::Result<std::net::TcpStream> {
    std::thread::spawn(move || {
        let netns = open_netns(netns)?;
        // SAFETY: setns on an open namespace file; only this thread moves.
        if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let dyno = std::net::TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
        dyno.set_nodelay(true)?;
        Ok(dyno)
    })
    .join()
    .unwrap_or_else(|_| Err(io::ErrorKind::Other.into()))
}

/// A message of one byte (`iov`) with room for one fd (`control`: u64s,
/// as a control message header must be aligned).
///
/// # Safety
/// The message points into `iov` and `control`: use it while they live.
unsafe fn one_fd_message(iov: &mut libc::iovec, control: &mut [u64; 4]) -> libc::msghdr {
    let space = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as usize;
    assert!(space <= size_of_val(control));
    let mut message: libc::msghdr = std::mem::zeroed();
    message.msg_iov = iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space as _;
    message
}

/// Sends `+` with `fd` attached.
fn send_fd(to: &UnixStream, fd: RawFd) -> io::Result<()> {
    let mut byte = *b"+";
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: the control buffer is sized by CMSG_SPACE for one fd, and
    // every pointer stays valid for the call.
    unsafe {
        let mut control = [0u64; 4];
        let message = one_fd_message(&mut iov, &mut control);
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd);
        if libc::sendmsg(to.as_raw_fd(), &message, libc::MSG_NOSIGNAL) != 1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives the helper's answer: the socket, or an error when it could not
/// connect (`-`) or the helper is gone.
fn receive_fd(from: RawFd) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: as in `send_fd`; a received fd is owned at once.
    let (read, fd) = unsafe {
        let mut control = [0u64; 4];
        let mut message = one_fd_message(&mut iov, &mut control);
        let read = libc::recvmsg(from, &mut message, libc::MSG_CMSG_CLOEXEC);
        if read < 0 {
            return Err(io::Error::last_os_error());
        }
        let header = libc::CMSG_FIRSTHDR(&message);
        let fd = (!header.is_null()
            && (*header).cmsg_level == libc::SOL_SOCKET
            && (*header).cmsg_type == libc::SCM_RIGHTS)
            .then(|| {
                OwnedFd::from_raw_fd(std::ptr::read_unaligned(
                    libc::CMSG_DATA(header).cast::<RawFd>(),
                ))
            });
        (read, fd)
    };
    match (read, byte, fd) {
        (1, [b'+'], Some(fd)) => Ok(fd),
        (1, [b'-'], None) => Err(io::ErrorKind::ConnectionRefused.into()),
        (0, _, _) => Err(io::ErrorKind::UnexpectedEof.into()),
        _ => Err(io::ErrorKind::Other.into()),
    }
}

/// How a router thread asks the helper: a connection of its own per
/// question, so a slow answer holds up no other, and a request given up
/// (its timeout) takes its question and answer with it.
#[derive(Clone)]
pub struct DynoConnector {
    socket: PathBuf,
}

impl DynoConnector {
    pub fn new(socket: PathBuf) -> DynoConnector {
        DynoConnector { socket }
    }

    /// A new connection to a dyno, made from inside its network namespace
    /// (dynos publish no port). A dyno not listening refuses (H21, or
    /// another dyno); without its namespace, or while the helper is
    /// restarting, it cannot be reached (`NotConnected`).
    pub async fn connect_dyno(&self, netns: Option<NetnsRef>) -> io::Result<tokio::net::TcpStream> {
        let netns = netns.ok_or(io::ErrorKind::NotConnected)?;
        self.connect(netns).await
    }

    /// Waits (`HELPER_WAIT` at most) until the helper takes connections:
    /// at the daemon's start, before it serves.
    pub async fn wait_for_helper(&self) {
        let _ = self.helper().await;
    }

    /// A connection to the helper, waiting for one that is starting. Not
    /// there: `NotConnected`, not to be taken for the dyno refusing.
    async fn helper(&self) -> io::Result<tokio::net::UnixStream> {
        let deadline = tokio::time::Instant::now() + HELPER_WAIT;
        loop {
            match tokio::net::UnixStream::connect(&self.socket).await {
                Ok(helper) => return Ok(helper),
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(err) => return Err(io::Error::new(io::ErrorKind::NotConnected, err)),
            }
        }
    }

    /// A connection to a dyno from inside its network namespace. Only the
    /// dyno refusing it (or being gone) is `ConnectionRefused`.
    async fn connect(&self, netns: NetnsRef) -> io::Result<tokio::net::TcpStream> {
        let mut helper = self.helper().await?;
        let asked = tokio::time::timeout(ANSWER_TIMEOUT, async {
            helper
                .write_all(question(netns, DYNO_PORT).as_bytes())
                .await?;
            loop {
                helper.readable().await?;
                let raw = helper.as_raw_fd();
                match helper.try_io(Interest::READABLE, || receive_fd(raw)) {
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    answer => break answer,
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))?;
        let dyno = std::net::TcpStream::from(asked);
        dyno.set_nonblocking(true)?;
        tokio::net::TcpStream::from_std(dyno)
    }
}

/// `DynoConnector::connect` for a thread that may block (a health check):
/// a connection to the dyno's `$PORT` from inside its network namespace.
pub fn connect_dyno_blocking(
    socket: &Path,
    netns: NetnsRef,
    port: u16,
    timeout: Duration,
) -> io::Result<std::net::TcpStream> {
    let helper = UnixStream::connect(socket)
        .map_err(|err| io::Error::new(io::ErrorKind::NotConnected, err))?;
    helper.set_read_timeout(Some(timeout.min(ANSWER_TIMEOUT)))?;
    (&helper).write_all(question(netns, port).as_bytes())?;
    Ok(std::net::TcpStream::from(receive_fd(helper.as_raw_fd())?))
}

/// For unit tests of the router: a stand-in helper on `socket` that
/// answers every question with a connection to `dyno` (a loopback server),
/// whatever namespace is asked for. It runs until the process ends.
#[cfg(test)]
pub fn serve_stand_in(socket: &Path, dyno: SocketAddr) {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for daemon in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut line = String::new();
                BufReader::new(&daemon).read_line(&mut line)?;
                match std::net::TcpStream::connect(dyno) {
                    Ok(connected) => send_fd(&daemon, connected.as_raw_fd()),
                    Err(_) => (&daemon).write_all(b"-"),
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connected_socket_crosses_with_its_answer_and_a_refusal_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dyno = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (helper, daemon) = UnixStream::pair().unwrap();
        send_fd(&helper, dyno.as_raw_fd()).unwrap();
        (&helper).write_all(b"-").unwrap();
        let received = std::net::TcpStream::from(receive_fd(daemon.as_raw_fd()).unwrap());
        assert_eq!(received.local_addr().unwrap(), dyno.local_addr().unwrap());
        let refused = receive_fd(daemon.as_raw_fd()).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        drop(helper);
        let gone = receive_fd(daemon.as_raw_fd()).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_namespace_is_entered_only_while_its_pid_still_has_it() {
        let pid = std::process::id();
        let inode = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .ino();
        let ours = NetnsRef { pid, inode };
        assert_eq!(parse_question(&question(ours, 8080)), Some((ours, 8080)));
        let older = format!("{} {}\n", ours.pid, ours.inode);
        assert_eq!(parse_question(&older), Some((ours, DYNO_PORT)));
        assert_eq!(parse_question("12\n"), None);
        assert_eq!(parse_question(&format!("{} {} 0\n", pid, inode)), None);
        assert!(open_netns(ours).is_ok());
        // The pid now runs in another namespace: as good as gone.
        let reused = NetnsRef {
            pid,
            inode: inode + 1,
        };
        assert!(refused(&open_netns(reused).unwrap_err()));
    }
}
