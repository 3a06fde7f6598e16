//! What the admin asks `paas server install` for. clap derives the flags
//! from this (the command line shows them under `server install`), but it
//! is the install's own input, so it lives here: the command line imports
//! it, the install never imports the command line.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Public key of the first admin (`~/.ssh/id_ed25519.pub`).
    #[arg(long, value_name = "FILE")]
    pub admin_key: Option<PathBuf>,
    /// Try it on one machine: a private sshd on 127.0.0.1 and loopback ports,
    /// leaving the system's sshd and ports 80/443 alone.
    #[arg(long)]
    pub local: bool,
    /// The port of the private sshd (`--local`; default 2222; installing
    /// again keeps the install's).
    #[arg(long)]
    pub ssh_port: Option<u16>,
    /// The router's HTTP port (default 80; `--local`: 8080; installing
    /// again keeps the install's).
    #[arg(long)]
    pub http_port: Option<u16>,
    /// The router's HTTPS port, for apps with certificates (default 443;
    /// `--local`: 8443; installing again keeps the install's).
    #[arg(long)]
    pub https_port: Option<u16>,
    /// Apps answer at `<app>.<domain>` (default `localhost`; installing
    /// again keeps the install's, which `domains:set-global` changes).
    #[arg(long)]
    pub domain: Option<String>,
    /// The unprivileged user that owns everything.
    #[arg(long, default_value = "paas")]
    pub user: String,
    /// The ACME directory `certs:auto` gets certificates from (default
    /// Let's Encrypt's; installing again keeps the install's).
    #[arg(long, value_name = "URL")]
    pub acme_directory: Option<String>,
    /// Authorities to trust for the ACME directory's HTTPS (default the
    /// system's), for a private ACME server.
    #[arg(long, value_name = "FILE")]
    pub acme_ca: Option<PathBuf>,
    /// The contact address given to the ACME CA (expiry notices).
    #[arg(long, value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// The largest compressed slug a build may make, in MiB (default 1024;
    /// installing again keeps the install's).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub slug_limit_mb: Option<u64>,
    /// Refuse pushes while less than this many MiB are free where builds
    /// and images go (default 1024; installing again keeps the install's).
    #[arg(long = "min-free-disk", value_name = "MIB")]
    pub min_free_mb: Option<u64>,
    /// How long a build may run before it is stopped, like `45m` (default
    /// 30m; installing again keeps the install's).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub build_timeout: Option<u64>,
    /// How long a release phase command may run before it is stopped and
    /// the release fails, like `2h` (default 1h, as on Heroku; installing
    /// again keeps the install's).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub release_timeout: Option<u64>,
    /// Whether the URLs apps' people give (webhooks, log drains,
    /// `MAINTENANCE_PAGE_URL`, `pg:backups:restore` URLs) may lead to
    /// loopback, private, link-local and this server's own addresses (`yes`
    /// or `no`; default `no`, as the server would then connect inside its
    /// own network for them; installing again keeps the install's).
    /// `--allow-private-webhooks`, its name when it covered webhooks
    /// alone, still works.
    #[arg(
        long,
        alias = "allow-private-webhooks",
        value_name = "yes|no",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_private_urls: Option<bool>,
    /// Run dynos from this image instead of building the stack.
    #[arg(long)]
    pub run_image: Option<String>,
    /// Run builds in this image instead of building the stack.
    #[arg(long)]
    pub build_image: Option<String>,
    /// The Debian mirror debootstrap uses for the stack images.
    #[arg(long, default_value = "http://deb.debian.org/debian")]
    pub mirror: String,
}
