//! One `ssh` call to the server: the command line quoted for the server's
//! parser, exit codes passed through, and ssh's own failures explained.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command as Process, Stdio};

use super::Server;
use crate::error::{Error, Result};

/// How the call's streams are wired.
pub enum Io {
    /// No stdin (a loop reading a file keeps its lines); stdout inherited.
    Plain,
    /// Inherit stdin and stdout (pipes and files stream through).
    Inherit,
    /// A terminal on the server (`ssh -t`): `run bash`, `logs --tail`.
    Terminal,
    /// Show stdout and also return it.
    Tee,
    /// Return stdout without showing it.
    Quiet,
    /// Feed this text on stdin.
    Stdin(String),
    /// Binary stdout to this side's stdout (a file), with a byte counter on
    /// stderr when that is a terminal: `pg:backups:download > file`.
    Download,
}

/// Copies the server's stdout to ours, counting bytes on a terminal's stderr.
fn stream_with_progress(mut from: impl Read) -> Result<()> {
    use std::io::IsTerminal;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} downloading {bytes} ({binary_bytes_per_sec}, {elapsed})",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let mut out = std::io::stdout().lock();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = from
            .read(&mut buffer)
            .map_err(|err| Error::new("reading from the server").cause(err))?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n])
            .map_err(|err| Error::new("writing the download (is the disk full?)").cause(err))?;
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
    }
    out.flush()
        .map_err(|err| Error::new("writing the download").cause(err))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(())
}

/// Quotes one word for the server's command parser: single quotes are
/// literal there, so nothing in a word is ever interpreted.
pub fn quote_word(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs the paas command `words` on the server. A non-zero exit of the
/// command becomes an error with the same exit code and no message of its
/// own (the server already said what went wrong).
pub fn call(server: &Server, words: &[String], io: Io) -> Result<String> {
    if let Some(word) = words.iter().find(|w| w.chars().any(|c| c.is_control())) {
        return Err(Error::new(format!(
            "`{}` holds a newline or control character, which cannot be sent as an argument",
            word.escape_debug()
        ))
        .hint("send such values on stdin: `paas config:set < FILE` reads KEY=value lines"));
    }
    let mut ssh = ssh_command(server, words, matches!(io, Io::Terminal), &[]);
    ssh.stderr(Stdio::piped());
    match io {
        Io::Tee | Io::Quiet | Io::Download => {
            ssh.stdout(Stdio::piped());
        }
        Io::Stdin(_) => {
            ssh.stdin(Stdio::piped());
        }
        Io::Plain => {
            ssh.stdin(Stdio::null());
        }
        Io::Inherit | Io::Terminal => {}
    }
    if matches!(io, Io::Tee | Io::Quiet | Io::Download) {
        ssh.stdin(Stdio::null());
    }
    let mut child = ssh.spawn().map_err(|err| {
        Error::new("could not run `ssh`")
            .cause(err)
            .hint("install the OpenSSH client (`apt install openssh-client`)")
    })?;
    // Ctrl-C belongs to ssh (and through it to the server's command); this
    // side waits for ssh to end and passes its exit code on.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    if let Io::Stdin(text) = &io {
        let mut stdin = child.stdin.take().expect("piped");
        let _ = stdin.write_all(text.as_bytes());
    }
    let stderr = child.stderr.take().expect("piped");
    let stderr_reader = std::thread::spawn(move || relay_stderr(stderr));
    let mut stdout_text = String::new();
    let stdout = child.stdout.take();
    if matches!(io, Io::Download) {
        if let Some(stdout) = stdout {
            stream_with_progress(stdout)?;
        }
    } else if let Some(mut stdout) = stdout {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        stdout_text = String::from_utf8_lossy(&bytes).into_owned();
        if matches!(io, Io::Tee) {
            print!("{stdout_text}");
        }
    }
    let status = child.wait();
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
    let status = status.map_err(|err| Error::unexpected("waiting for `ssh`").cause(err))?;
    let held = stderr_reader.join().unwrap_or_default();
    let code = exit_code(status);
    if code == 255 {
        if let Some(err) = explain_ssh_failure(server, &held) {
            return Err(err.with_exit_code(255));
        }
    }
    // Not ssh's own failure after all: show them as they were.
    for line in &held {
        crate::say!("{line}");
    }
    match code {
        0 => Ok(stdout_text),
        code => Err(Error::exit(code)),
    }
}

/// Runs `words` on the server without prompting or printing anything, for
/// shell completion; `None` when it fails or takes more than a few seconds.
pub fn quiet(server: &Server, words: &[String]) -> Option<String> {
    let output = ssh_command(
        server,
        words,
        false,
        &["BatchMode=yes", "ConnectTimeout=10"],
    )
    .stdin(Stdio::null())
    .stderr(Stdio::null())
    .output()
    .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `ssh` running the paas command `words` with stdin and stdout piped, for
/// a byte stream both ways (`ps:forward`'s connections); stderr is this
/// side's.
pub fn spawn_stream(server: &Server, words: &[String]) -> Result<std::process::Child> {
    spawn_with(server, words, Stdio::piped(), Stdio::piped())
}

/// `spawn_stream` with its stdin and stdout wired as given (`pg:pull`
/// reads a dump, `pg:push` writes one).
pub fn spawn_with(
    server: &Server,
    words: &[String],
    stdin: Stdio,
    stdout: Stdio,
) -> Result<std::process::Child> {
    ssh_command(server, words, false, &[])
        .stdin(stdin)
        .stdout(stdout)
        .spawn()
        .map_err(|err| {
            Error::new("could not run `ssh`")
                .cause(err)
                .hint("install the OpenSSH client (`apt install openssh-client`)")
        })
}

/// `ssh [-p PORT] -t|-T -o … -- DESTINATION 'word' 'word'…`
fn ssh_command(server: &Server, words: &[String], terminal: bool, options: &[&str]) -> Process {
    let command_line: Vec<String> = words.iter().map(|w| quote_word(w)).collect();
    let mut ssh = ssh_process();
    if let Some(port) = server.port {
        ssh.args(["-p", &port.to_string()]);
    }
    ssh.arg(if terminal { "-t" } else { "-T" });
    for option in ["LogLevel=ERROR"].iter().chain(options) {
        ssh.args(["-o", option]);
    }
    ssh.arg("--")
        .arg(server.destination())
        .arg(command_line.join(" "));
    ssh
}

/// `PAAS_SSH_COMMAND`, else `GIT_SSH_COMMAND` (what `git push` uses), else
/// `ssh`; a command is run through `sh` as git does it.
fn ssh_process() -> Process {
    let custom = ["PAAS_SSH_COMMAND", "GIT_SSH_COMMAND"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
    match custom {
        Some(command) => {
            let mut process = Process::new("sh");
            process
                .arg("-c")
                .arg(format!("{command} \"$@\""))
                .arg("paas-ssh");
            process
        }
        None => Process::new("ssh"),
    }
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code.clamp(0, 255) as u8,
        (None, Some(signal)) => (128 + signal).clamp(0, 255) as u8,
        _ => 1,
    }
}

/// Passes the server's stderr through as it comes, holding back ssh's own
/// failure lines so they can be explained instead of shown raw.
fn relay_stderr(stderr: impl Read) -> Vec<String> {
    let mut held = Vec::new();
    let mut err = std::io::stderr();
    for line in BufReader::new(stderr).split(b'\n') {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(&line).into_owned();
        if is_ssh_failure(&text) {
            held.push(text);
        } else {
            let _ = err.write_all(&line);
            let _ = err.write_all(b"\n");
        }
    }
    held
}

/// Lines in the shapes ssh itself prints (`ssh: connect to host …`,
/// `paas@host: Permission denied (publickey).`), not what a command says.
fn is_ssh_failure(line: &str) -> bool {
    let after_destination = line.split_once(": ").map_or("", |(_, rest)| rest);
    line.starts_with("ssh: ")
        || after_destination.starts_with("Permission denied (")
        || line.starts_with("Host key verification failed")
        || line.starts_with("kex_exchange_identification")
        || line.starts_with("Connection closed by")
        || line.starts_with("Connection timed out")
        || line.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
}

fn explain_ssh_failure(server: &Server, lines: &[String]) -> Option<Error> {
    let text = lines.join("\n");
    let port = server.port.map(|p| format!(":{p}")).unwrap_or_default();
    let place = format!("{}{port} (from {})", server.host, server.source);
    let err = if text.contains("Permission denied (") {
        Error::new(format!("the server at {place} refused your SSH key")).hint(
            "ask its admin to add your public key: `paas keys:add --user YOU < ~/.ssh/id_ed25519.pub`; \
             `ssh-add -l` lists the keys ssh offers",
        )
    } else if text.contains("Host key verification failed")
        || text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        Error::new(format!(
            "the server at {place} is not the host your known_hosts expects"
        ))
        .hint(format!(
            "if it was reinstalled, check its new key and run `ssh-keygen -R {}`",
            server.host
        ))
    } else if text.contains("Could not resolve hostname") {
        Error::new(format!("cannot find the server {place}: no such host name"))
            .hint("check the address: `git remote -v` shows the `deploy` remote")
    } else if lines
        .iter()
        .any(|l| l.starts_with("ssh: ") || l.contains("Connection"))
    {
        Error::new(format!("cannot reach the server at {place}")).hint(
            "check that the server is up, that the port is right (`git remote -v`), \
             and that a firewall lets SSH through",
        )
    } else {
        return None;
    };
    Some(lines.iter().fold(err, |err, line| err.cause(line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_the_servers_parser() {
        let words = [
            "config:set",
            "URL=postgres://a:b@h/d?x=1&y=$2",
            "it's",
            "a b;c",
        ];
        let line: Vec<String> = words.iter().map(|w| quote_word(w)).collect();
        let parsed = crate::ssh::split_words(&line.join(" ")).unwrap();
        assert_eq!(parsed, words);
    }

    #[test]
    fn explains_refused_keys_and_unreachable_hosts() {
        let server = Server::parse("ssh://paas@vps:2222/app", "the git remote `deploy`").unwrap();
        let refused = explain_ssh_failure(
            &server,
            &["paas@vps: Permission denied (publickey).".to_string()],
        )
        .unwrap();
        assert!(refused.message().contains("refused your SSH key"));
        assert!(refused.report().contains("keys:add"));
        let down = explain_ssh_failure(
            &server,
            &["ssh: connect to host vps port 2222: Connection refused".to_string()],
        )
        .unwrap();
        assert!(down
            .message()
            .contains("cannot reach the server at vps:2222 (from the git remote `deploy`)"));
        assert!(explain_ssh_failure(&server, &[]).is_none());
    }
}
