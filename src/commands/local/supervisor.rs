//! Runs `paas local`'s processes together, as foreman's engine does: each
//! in `sh -c`, its output (stdout and stderr, one pipe, so their order
//! holds) printed line by line behind its name; when one ends, or on
//! SIGINT, SIGTERM or SIGHUP, SIGTERM to all, and SIGKILL to what is left
//! after the timeout (foreman's `-t`, 5 s by default).
//!
//! Unlike foreman, each process leads a process group of its own and is
//! signalled through it, so what it started (`npm` → `node`, `sh` → a
//! pipeline) stops with it. Being out of the terminal's foreground group,
//! Ctrl-C reaches only us: we decide what each process gets, once.
//!
//! We wait until every group is empty. A process whose parent ended is
//! handed to the nearest subreaper, and stays in its group as a zombie
//! until reaped: so on Linux we are that subreaper and reap it at once,
//! instead of waiting for an init that reaps late.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// One process to start: `web.1`, its command and what its environment adds.
#[derive(Debug)]
pub struct Process {
    pub name: String,
    pub command: String,
    pub env: Vec<(String, String)>,
    /// The ANSI colour of its prefix.
    pub color: &'static str,
}

/// What the threads tell the main loop.
enum Event {
    Line(usize, Vec<u8>),
    Closed(usize),
    Signal(i32),
}

/// How often the loop reaps and looks whether the groups are gone.
const TICK: Duration = Duration::from_millis(50);

/// How long a process's ending waits to be printed after its last lines,
/// when something it started keeps its output open.
const LAST_LINES: Duration = Duration::from_millis(200);

/// After SIGKILL, how long to wait for output a process handed to a program
/// that left its group (`setsid`): such a program outlives us.
const AFTER_KILL: Duration = Duration::from_secs(2);

/// A started process as the loop sees it.
struct Running<'a> {
    process: &'a Process,
    /// Its pid, which is its process group's id.
    group: i32,
    ended: Option<(ExitStatus, Instant)>,
    reported: bool,
    closed: bool,
}

/// Runs `processes` in `dir` with `env` added to ours, until one ends or we
/// are signalled; then stops them all. Ok when the first to end exited 0;
/// otherwise its exit status (or 128 + our signal) is ours.
pub fn run(
    processes: &[Process],
    env: &BTreeMap<String, String>,
    dir: &Path,
    timeout: Duration,
    color: bool,
) -> Result<()> {
    // Bounded: a process that prints faster than the terminal shows waits
    // for it, as under foreman, instead of filling our memory.
    let (events, inbox) = mpsc::sync_channel(1024);
    // Before any thread starts, so every thread inherits the mask and only
    // the signal thread takes these; children get a clean mask back
    // (`unblock_signals`).
    let stop_signals = block_stop_signals();
    {
        let events = events.clone();
        std::thread::spawn(move || wait_for_signals(stop_signals, events));
    }
    // A reader gone (`paas local | head`) must stop the processes, not kill
    // us and leave them running: writes fail instead (std gives children
    // the default back).
    // SAFETY: ignoring a signal installs no handler.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    become_subreaper();

    let names: Vec<&str> = processes.iter().map(|p| p.name.as_str()).collect();
    let mut out = Printer::new(&names, color);
    let mut started: Vec<Running> = Vec::new();
    let mut outcome: Option<i32> = None;
    for process in processes {
        match spawn(started.len(), process, env, dir, &events) {
            Ok(group) => {
                let line = format!("started with pid {group}");
                out.line(&process.name, process.color, line.as_bytes());
                started.push(Running {
                    process,
                    group,
                    ended: None,
                    reported: false,
                    closed: false,
                });
            }
            Err(err) => {
                out.system(&format!("cannot start {}: {err}", process.name));
                outcome = Some(1);
                break;
            }
        }
    }
    drop(events);
    let groups: Vec<i32> = started.iter().map(|r| r.group).collect();

    let mut stopping: Option<Instant> = None;
    let mut killed: Option<Instant> = None;
    if outcome.is_some() {
        stop(&mut out, &groups, &mut stopping);
    }
    loop {
        // The first to end gives the exit status; the others are stopped
        // once its ending is printed, after its last lines.
        for (index, status) in reap(&groups) {
            started[index].ended = Some((status, Instant::now()));
            outcome.get_or_insert(exit_code(status));
        }
        for running in started.iter_mut().filter(|r| !r.reported) {
            if let Some((status, at)) = running.ended {
                if running.closed || at.elapsed() >= LAST_LINES {
                    let (name, color) = (&running.process.name, running.process.color);
                    out.line(name, color, ended(status).as_bytes());
                    running.reported = true;
                    stop(&mut out, &groups, &mut stopping);
                }
            }
        }
        let output_done =
            started.iter().all(|r| r.closed) || killed.is_some_and(|at| at.elapsed() >= AFTER_KILL);
        if started.iter().all(|r| r.reported)
            && output_done
            && !groups.iter().any(|&group| group_alive(group))
        {
            break;
        }
        match inbox.recv_timeout(TICK) {
            Ok(Event::Line(index, line)) => {
                let process = started[index].process;
                out.line(&process.name, process.color, &line);
            }
            Ok(Event::Closed(index)) => started[index].closed = true,
            Ok(Event::Signal(signal)) if stopping.is_none() => {
                let name = signal_name(signal);
                out.system(&format!("{name} received, starting shutdown"));
                outcome.get_or_insert(128 + signal);
                stop(&mut out, &groups, &mut stopping);
            }
            // A second Ctrl-C: no more waiting.
            Ok(Event::Signal(_)) => kill_now(&mut out, &groups, &mut killed),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
        if out.broken && stopping.is_none() {
            outcome.get_or_insert(128 + libc::SIGPIPE);
            stop(&mut out, &groups, &mut stopping);
        }
        if stopping.is_some_and(|at| at.elapsed() >= timeout) {
            kill_now(&mut out, &groups, &mut killed);
        }
    }
    match outcome.unwrap_or(0) {
        0 => Ok(()),
        code => Err(Error::exit(code.clamp(1, 255) as u8)),
    }
}

/// Starts `process` leading a process group of its own, with a thread that
/// reads its output. Returns its pid.
fn spawn(
    index: usize,
    process: &Process,
    env: &BTreeMap<String, String>,
    dir: &Path,
    events: &SyncSender<Event>,
) -> std::io::Result<i32> {
    let (reader, writer) = std::io::pipe()?;
    // Dropped at the end of this block with our copies of the pipe's
    // writing end, so the reader sees the end when the process goes. The
    // child is reaped by `reap`, never waited for through `Child`.
    let child = {
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(&process.command)
            .current_dir(dir)
            .envs(env)
            .envs(process.env.iter().cloned())
            // Several processes cannot share a terminal's input.
            .stdin(Stdio::null())
            .stdout(writer.try_clone()?)
            .stderr(writer)
            .process_group(0);
        // SAFETY: between fork and exec, only sigprocmask (async-signal-safe).
        unsafe { command.pre_exec(unblock_signals) };
        command.spawn()?
    };
    let lines = events.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = line.strip_suffix(b"\n").unwrap_or(&line);
                    let text = text.strip_suffix(b"\r").unwrap_or(text);
                    if lines.send(Event::Line(index, text.to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = lines.send(Event::Closed(index));
    });
    Ok(child.id() as i32)
}

/// Reaps every child that has ended: our processes (returned, by index)
/// and the orphans handed to us as subreaper (dropped).
fn reap(groups: &[i32]) -> Vec<(usize, ExitStatus)> {
    let mut ended = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only into `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return ended;
        }
        if let Some(index) = groups.iter().position(|&group| group == pid) {
            ended.push((index, ExitStatus::from_raw(status)));
        }
    }
}

/// Has the kernel hand us the orphans of our processes (Linux only; where
/// it cannot, init reaps them, and we may wait for that).
fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: this prctl only sets a flag on our process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
}

/// SIGTERM to every group, once; the loop sends SIGKILL after the timeout.
fn stop(out: &mut Printer, groups: &[i32], stopping: &mut Option<Instant>) {
    if stopping.is_some() {
        return;
    }
    out.system("sending SIGTERM to all processes");
    signal_groups(groups, libc::SIGTERM);
    *stopping = Some(Instant::now());
}

fn kill_now(out: &mut Printer, groups: &[i32], killed: &mut Option<Instant>) {
    if killed.is_some() {
        return;
    }
    if groups.iter().any(|&group| group_alive(group)) {
        out.system("sending SIGKILL to all processes");
        signal_groups(groups, libc::SIGKILL);
    }
    *killed = Some(Instant::now());
}

/// Signals each group, including those whose leader has ended: what it
/// started may live on in the group.
fn signal_groups(groups: &[i32], signal: i32) {
    for &group in groups {
        // SAFETY: kill has no memory effects; ESRCH (the group is empty)
        // is what we want.
        unsafe { libc::kill(-group, signal) };
    }
}

/// Whether any process is left in `group` (signal 0 only checks).
fn group_alive(group: i32) -> bool {
    // SAFETY: signal 0 sends nothing.
    unsafe { libc::kill(-group, 0) == 0 }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and so in the threads
/// it starts after), for `wait_for_signals` to take them in turn.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: a set on our stack, filled before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Gives a child the signal mask a process starts with: std passes ours
/// on, where `block_stop_signals` holds SIGTERM back, and a shell that
/// waits for what it started keeps it.
fn unblock_signals() -> std::io::Result<()> {
    // SAFETY: an empty set on our stack.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    Ok(())
}

fn wait_for_signals(set: libc::sigset_t, events: SyncSender<Event>) {
    loop {
        let mut signal = 0;
        // SAFETY: `set` is a valid, filled signal set.
        if unsafe { libc::sigwait(&set, &mut signal) } == 0
            && events.send(Event::Signal(signal)).is_err()
        {
            return;
        }
    }
}

/// foreman's words for how a process ended.
fn ended(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("terminated by {}", signal_name(signal)),
        (None, None) => "ended".to_string(),
    }
}

/// A shell's exit code for `status`: 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "HUP",
        libc::SIGINT => "INT",
        libc::SIGQUIT => "QUIT",
        libc::SIGABRT => "ABRT",
        libc::SIGKILL => "KILL",
        libc::SIGSEGV => "SEGV",
        libc::SIGPIPE => "PIPE",
        libc::SIGTERM => "TERM",
        libc::SIGUSR1 => "USR1",
        libc::SIGUSR2 => "USR2",
        other => return format!("signal {other}"),
    };
    format!("SIG{name}")
}

/// Prints lines behind a prefix, foreman's: `14:03:07 web.1  | `, the prefix
/// in the process's colour on a terminal. All on stdout, as foreman does:
/// the processes' own lines and ours are one stream, in order.
struct Printer {
    width: usize,
    color: bool,
    /// stdout is gone: print nothing more, and stop.
    broken: bool,
}

/// The colour of `system` lines: foreman's bright white.
const SYSTEM_COLOR: &str = "1;37";

impl Printer {
    fn new(names: &[&str], color: bool) -> Printer {
        Printer {
            width: prefix_width(names),
            color,
            broken: false,
        }
    }

    fn system(&mut self, text: &str) {
        self.line("system", SYSTEM_COLOR, text.as_bytes());
    }

    fn line(&mut self, name: &str, color: &str, text: &[u8]) {
        if self.broken {
            return;
        }
        let prefix = prefix(&clock(), name, self.width, self.color.then_some(color));
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(prefix.as_bytes())
            .and_then(|()| stdout.write_all(text))
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        self.broken = written.is_err();
    }
}

/// foreman's name column: the longest name, and never narrower than `system`.
fn prefix_width(names: &[&str]) -> usize {
    names
        .iter()
        .map(|name| name.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6)
}

/// `14:03:07 web.1  | `, coloured when `color` is given.
fn prefix(time: &str, name: &str, width: usize, color: Option<&str>) -> String {
    let text = format!("{time} {name:<width$} | ");
    match color {
        Some(code) => format!("\x1b[{code}m{text}\x1b[0m"),
        None => text,
    }
}

/// The local time of day, `HH:MM:SS`.
fn clock() -> String {
    // SAFETY: localtime_r writes only into `local`, which we own.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut local: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut local).is_null() {
            return "--:--:--".to_string();
        }
        format!(
            "{:02}:{:02}:{:02}",
            local.tm_hour, local.tm_min, local.tm_sec
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_padded_to_the_longest_name_and_coloured_on_request() {
        let width = prefix_width(&["web.1", "worker.1"]);
        assert_eq!(width, 8);
        assert_eq!(
            prefix("14:03:07", "web.1", width, None),
            "14:03:07 web.1    | "
        );
        assert_eq!(
            prefix("14:03:07", "web.1", 6, Some("36")),
            "\x1b[36m14:03:07 web.1  | \x1b[0m"
        );
        // Never narrower than `system`, which shares the column.
        assert_eq!(prefix_width(&["a.1"]), 6);
        assert_eq!(prefix_width(&[]), 6);
    }

    #[test]
    fn endings_read_as_foremans() {
        let exited = ExitStatus::from_raw(3 << 8);
        let killed = ExitStatus::from_raw(libc::SIGTERM);
        assert_eq!(ended(exited), "exited with code 3");
        assert_eq!(ended(killed), "terminated by SIGTERM");
        assert_eq!(exit_code(exited), 3);
        assert_eq!(exit_code(killed), 143);
        assert_eq!(signal_name(libc::SIGINT), "SIGINT");
        assert_eq!(signal_name(99), "signal 99");
    }

    #[test]
    fn the_clock_reads_like_foremans() {
        let time = clock();
        assert_eq!(time.len(), 8, "{time}");
        assert_eq!(time.as_bytes()[2], b':');
    }
}
