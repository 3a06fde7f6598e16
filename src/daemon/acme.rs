//! `certs:auto`: certificates from an ACME CA (Let's Encrypt unless the
//! install names another directory) by HTTP-01, got and renewed inside the
//! daemon: the router answers the CA's challenge requests, and a loop renews
//! each certificate 30 days before it expires. No cron, no certbot. The
//! dashboard's host gets its own the same way (`dashboard:certs:auto`).

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};

use crate::certs::Bundle;
use crate::net;
use crate::state::{self, AppName, Root, Settings};

pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Renewal starts this long before a certificate expires.
const RENEW_BEFORE_SECS: i64 = 30 * 86400;
/// After a failure the loop waits this long, doubled for each failure in a
/// row up to a day: the CA's rate limits punish retrying a failing
/// validation often.
const RETRY_AFTER_SECS: i64 = 300;
const RETRY_AT_MOST_SECS: i64 = 86400;
/// How often the loop looks for certificates to get or renew.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Challenge token → key authorization, answered by the router at
/// `/.well-known/acme-challenge/<token>` for any host.
pub type Challenges = Arc<Mutex<HashMap<String, String>>>;

/// What the daemon last did about an app's certificate (`acme.toml`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Status {
    /// Unix seconds of the last attempt.
    pub attempted_at: Option<i64>,
    /// Unix seconds of the last certificate issued.
    pub issued_at: Option<i64>,
    /// Why the last attempt failed (cleared by a success).
    pub error: Option<String>,
    /// Failures in a row.
    #[serde(default)]
    pub failures: u32,
}

impl Status {
    pub fn load(root: &Root, subject: &Subject) -> Status {
        state::read_toml(&subject.status_file(root)).unwrap_or_default()
    }

    /// Whether a failure lately says wait before trying again.
    fn backing_off(&self, now: i64) -> bool {
        let doublings = self.failures.saturating_sub(1).min(10);
        let wait = (RETRY_AFTER_SECS << doublings).min(RETRY_AT_MOST_SECS);
        self.failures > 0 && self.attempted_at.is_some_and(|at| now - at < wait)
    }
}

/// What a certificate is for: an app's hosts (`certs:auto`), or the
/// dashboard's (`dashboard:certs:auto`).
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    App(AppName),
    Dashboard,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subject::App(name) => write!(f, "{name}"),
            Subject::Dashboard => write!(f, "the dashboard"),
        }
    }
}

impl Subject {
    /// The host names its certificate must cover.
    pub fn hosts(&self, root: &Root, settings: &Settings) -> Vec<String> {
        match self {
            Subject::App(name) => crate::certs::app_hosts(settings, &root.app(name)),
            Subject::Dashboard => vec![settings.dashboard_host()],
        }
    }

    /// Its certificate now, expired or not.
    pub fn certificate(&self, root: &Root) -> Option<Bundle> {
        match self {
            Subject::App(name) => crate::certs::load(&root.app(name)),
            Subject::Dashboard => crate::certs::load_dashboard(root),
        }
    }

    fn status_file(&self, root: &Root) -> PathBuf {
        match self {
            Subject::App(name) => root.app(name).acme_status_file(),
            Subject::Dashboard => root.dashboard_acme_status_file(),
        }
    }

    /// Whether it asks for automatic certificates now.
    fn wanted(&self, root: &Root, settings: &Settings) -> bool {
        match self {
            Subject::App(name) => root.app(name).settings().is_ok_and(|s| s.certs_auto),
            Subject::Dashboard => settings.dashboard_certs_auto,
        }
    }

    /// Checks the issued bundle as `certs:add` would, and keeps it.
    fn store(&self, root: &Root, pem: &str) -> Result<crate::certs::Summary, String> {
        let bundle = crate::certs::check(pem).map_err(|err| err.to_string())?;
        match self {
            Subject::App(name) => {
                let app = root.app(name);
                let _lock = app.lock().map_err(|err| err.to_string())?;
                crate::certs::store(&app, &bundle).map_err(|err| err.to_string())?;
            }
            // Only the daemon writes it (one issuance at a time).
            Subject::Dashboard => {
                crate::certs::store_dashboard(root, &bundle).map_err(|err| err.to_string())?
            }
        }
        Ok(bundle.summary)
    }

    /// Says what came of an order where its owner looks: the app's log
    /// (`logs -d router`), or the daemon's.
    fn tell(&self, root: &Root, line: &str) {
        match self {
            Subject::App(name) => crate::logs::platform(&root.app(name), "router", line),
            Subject::Dashboard => eprintln!("paas daemon: dashboard: {line}"),
        }
    }
}

/// Why a certificate for `hosts` is needed now, if it is, given the one
/// there is.
pub fn due(bundle: Option<&Bundle>, hosts: &[String], now: i64) -> Option<String> {
    let Some(bundle) = bundle else {
        return Some("there is no certificate".into());
    };
    let missing: Vec<&str> = hosts
        .iter()
        .filter(|host| !bundle.summary.covers(host))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "its certificate does not cover {}",
            missing.join(", ")
        ));
    }
    // A certificate that lives less than that renews at its last third.
    let lifetime = bundle.valid_until - bundle.valid_from;
    let renew_before = if lifetime > RENEW_BEFORE_SECS {
        RENEW_BEFORE_SECS
    } else {
        lifetime / 3
    };
    (bundle.valid_until - now < renew_before)
        .then(|| format!("its certificate expires on {}", bundle.summary.expires_at))
}

/// Gets and renews certificates; one issuance at a time.
pub struct Manager {
    root: Root,
    pub challenges: Challenges,
    busy: tokio::sync::Mutex<()>,
    /// Has the router serve a subject's new certificate.
    reload: Box<dyn Fn(&Subject) + Send + Sync>,
}

impl Manager {
    pub fn new(root: Root, reload: Box<dyn Fn(&Subject) + Send + Sync>) -> Arc<Manager> {
        Arc::new(Manager {
            root,
            challenges: Arc::default(),
            busy: tokio::sync::Mutex::new(()),
            reload,
        })
    }

    /// Every app with `certs:auto`, and the dashboard with
    /// `dashboard:certs:auto`, whose certificate is due, unless its last
    /// attempt failed lately (`Status::backing_off`).
    pub async fn renew_loop(self: Arc<Self>) {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let (Ok(settings), Ok(apps)) = (self.root.settings(), self.root.apps()) else {
                continue;
            };
            let subjects = apps
                .into_iter()
                .map(Subject::App)
                .chain(std::iter::once(Subject::Dashboard));
            for subject in subjects {
                if !subject.wanted(&self.root, &settings) {
                    continue;
                }
                // Decided under `busy`: an issuance `certs:auto:enable` just
                // made leaves nothing to do.
                let _one_at_a_time = self.busy.lock().await;
                let now = crate::crashes::now();
                let hosts = subject.hosts(&self.root, &settings);
                let current = subject.certificate(&self.root);
                let Some(reason) = due(current.as_ref(), &hosts, now) else {
                    continue;
                };
                if Status::load(&self.root, &subject).backing_off(now) {
                    continue;
                }
                eprintln!("paas daemon: {subject}: getting a certificate: {reason}");
                if let Err(err) = self.issue_locked(&subject).await {
                    eprintln!("paas daemon: {subject}: {err}");
                }
            }
        }
    }

    /// Gets a certificate for the subject's hosts now and serves it; says
    /// what it got, or why not.
    pub async fn issue(&self, subject: &Subject) -> Result<String, String> {
        let _one_at_a_time = self.busy.lock().await;
        self.issue_locked(subject).await
    }

    async fn issue_locked(&self, subject: &Subject) -> Result<String, String> {
        let settings = self.root.settings().map_err(|err| err.to_string())?;
        let names = subject.hosts(&self.root, &settings);
        let result = self.order(&settings, &names).await;
        let mut status = Status::load(&self.root, subject);
        let now = crate::crashes::now();
        status.attempted_at = Some(now);
        let stored = match result {
            // The app's lock may wait for a deploy: not on a router thread.
            Ok(pem) => {
                let (root, subject) = (self.root.clone(), subject.clone());
                tokio::task::spawn_blocking(move || subject.store(&root, &pem))
                    .await
                    .unwrap_or_else(|err| Err(err.to_string()))
            }
            Err(err) => Err(err),
        };
        let outcome = match stored {
            Ok(summary) => {
                status.issued_at = Some(now);
                status.error = None;
                status.failures = 0;
                subject.tell(
                    &self.root,
                    &format!(
                        "Certificate issued for {} (expires {})",
                        summary.names.join(", "),
                        summary.expires_at
                    ),
                );
                (self.reload)(subject);
                Ok(format!(
                    "{} until {}",
                    summary.names.join(", "),
                    summary.expires_at
                ))
            }
            Err(err) => Err(err),
        };
        if let Err(err) = &outcome {
            status.error = Some(err.clone());
            status.failures += 1;
            subject.tell(&self.root, &format!("Certificate not issued: {err}"));
        }
        let _ = state::write_toml(&subject.status_file(&self.root), &status, 0o644);
        outcome
    }

    /// One order for `names`: the chain and its key as one PEM bundle.
    async fn order(&self, settings: &Settings, names: &[String]) -> Result<String, String> {
        let directory = settings
            .acme_directory
            .clone()
            .unwrap_or_else(|| LETS_ENCRYPT.to_string());
        let account = self.account(settings, &directory, false).await?;
        let identifiers: Vec<Identifier> =
            names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let refused = |err: instant_acme::Error| format!("the ACME CA refused the order: {err}");
        let mut order = match account.new_order(&NewOrder::new(&identifiers)).await {
            Ok(order) => order,
            // The CA forgot the account (a test CA restarted): a new one.
            Err(err) if err.to_string().contains("accountDoesNotExist") => self
                .account(settings, &directory, true)
                .await?
                .new_order(&NewOrder::new(&identifiers))
                .await
                .map_err(refused)?,
            Err(err) => return Err(refused(err)),
        };
        let mut tokens = Vec::new();
        let result = self
            .validate_and_finalize(&mut order, names, &mut tokens)
            .await;
        // Whatever happened, the router stops answering for this order.
        let mut challenges = self.challenges.lock().expect("not poisoned");
        for token in tokens {
            challenges.remove(&token);
        }
        result
    }

    async fn validate_and_finalize(
        &self,
        order: &mut instant_acme::Order,
        names: &[String],
        tokens: &mut Vec<String>,
    ) -> Result<String, String> {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|err| err.to_string())?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => return Err(format!("an authorization is {other:?}")),
            }
            let mut challenge = authorization
                .challenge(ChallengeType::Http01)
                .ok_or("the ACME CA offers no HTTP-01 challenge")?;
            let key_authorization = challenge.key_authorization().as_str().to_string();
            self.challenges
                .lock()
                .expect("not poisoned")
                .insert(challenge.token.clone(), key_authorization);
            tokens.push(challenge.token.clone());
            challenge.set_ready().await.map_err(|err| err.to_string())?;
        }
        let retry = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .backoff(1.5)
            .timeout(Duration::from_secs(90));
        let status = order
            .poll_ready(&retry)
            .await
            .map_err(|err| format!("validating: {err}"))?;
        if status != OrderStatus::Ready {
            let problem = order
                .state()
                .error
                .as_ref()
                .map_or_else(String::new, |p| format!(": {p}"));
            return Err(format!(
                "the ACME CA could not check {} over HTTP on port 80 (the order is {status:?}){problem}",
                names.join(", ")
            ));
        }
        let key = order.finalize().await.map_err(|err| err.to_string())?;
        let chain = order
            .poll_certificate(&retry)
            .await
            .map_err(|err| err.to_string())?;
        Ok(format!("{chain}\n{key}"))
    }

    /// The install's ACME account for `directory`, made (and kept, 0600)
    /// on first use or when `fresh`.
    async fn account(
        &self,
        settings: &Settings,
        directory: &str,
        fresh: bool,
    ) -> Result<Account, String> {
        let file = self.root.etc_dir().join("acme-account.json");
        let stored: Option<AccountCredentials> = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| serde_json::from_str::<StoredAccount>(&text).ok())
            .filter(|stored| stored.directory == directory && !fresh)
            .map(|stored| stored.credentials);
        let http =
            || -> Result<Box<dyn HttpClient>, String> { Ok(Box::new(AcmeHttp::new(settings)?)) };
        if let Some(credentials) = stored {
            return Account::builder_with_http(http()?)
                .from_credentials(credentials)
                .await
                .map_err(|err| format!("the ACME account: {err}"));
        }
        let contact: Vec<String> = settings
            .acme_email
            .iter()
            .map(|email| format!("mailto:{email}"))
            .collect();
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = Account::builder_with_http(http()?)
            .create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.to_string(),
                None,
            )
            .await
            .map_err(|err| format!("registering with the ACME CA at {directory}: {err}"))?;
        let stored = StoredAccount {
            directory: directory.to_string(),
            credentials,
        };
        let text = serde_json::to_string(&stored).map_err(|err| err.to_string())?;
        state::create_dir(&self.root.etc_dir(), 0o755).map_err(|err| err.to_string())?;
        state::write_atomic(&file, text.as_bytes(), 0o600).map_err(|err| err.to_string())?;
        Ok(account)
    }
}

#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// instant-acme's HTTP client: the platform's one (`net`), a connection
/// per request, trusting the install's ACME authorities. An order takes a
/// dozen requests; no pooling needed.
struct AcmeHttp {
    tls: Arc<rustls::ClientConfig>,
}

impl AcmeHttp {
    fn new(settings: &Settings) -> Result<AcmeHttp, String> {
        let tls = match &settings.acme_ca {
            Some(bundle) => crate::tls::client_config_trusting(bundle)?,
            None => crate::tls::client_config()?,
        };
        Ok(AcmeHttp { tls })
    }
}

/// A request to the CA, and its answer read whole, within this long.
const ACME_ANSWER_WITHIN: Duration = Duration::from_secs(30);

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        request: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let tls = self.tls.clone();
        Box::pin(async move {
            let fail = |err: String| instant_acme::Error::Other(err.into());
            let uri = request.uri().to_string();
            let target = net::HttpTarget::parse(&uri).map_err(fail)?;
            if !target.tls {
                return Err(fail(format!("`{uri}` is not https")));
            }
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|whole| whole.to_bytes())
                .unwrap_or_default();
            let mut request = net::request(parts.method, &target, "paas")
                .body(body)
                .map_err(|err| fail(err.to_string()))?;
            // instant-acme's own headers (its user agent among them) win.
            for (name, value) in parts.headers {
                if let Some(name) = name {
                    request.headers_mut().insert(name, value);
                }
            }
            let exchange = async {
                let timeouts = net::Timeouts {
                    connect: ACME_ANSWER_WITHIN,
                    read: None,
                    write: None,
                };
                // The directory is the admin's (`--acme-directory`), and
                // every other URL comes from it: a private CA may be on
                // the server's own network.
                let reach = net::Reach::Anywhere;
                let stream =
                    net::connect(&target.host, target.port, reach, true, Some(&tls), timeouts)
                        .await?;
                net::Connection::open(stream)
                    .await?
                    .send(request, u64::MAX)
                    .await
            };
            let response = net::within(ACME_ANSWER_WITHIN, exchange)
                .await
                .map_err(|err| {
                    if err.is_timeout() {
                        fail(format!("`{uri}` did not answer within 30 s"))
                    } else {
                        instant_acme::Error::Other(Box::new(err))
                    }
                })?;
            Ok(BytesResponse::from(hyper::Response::from_parts(
                response.head,
                Full::new(response.body),
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_for(names: &[&str]) -> Bundle {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let made = rcgen::generate_simple_self_signed(names).unwrap();
        let pem = format!("{}\n{}", made.cert.pem(), made.signing_key.serialize_pem());
        crate::certs::check(&pem).unwrap()
    }

    #[test]
    fn a_certificate_is_due_when_missing_short_of_a_host_or_near_its_end() {
        let hosts = vec!["paas.example.com".to_string()];
        let now = crate::crashes::now();
        assert_eq!(
            due(None, &hosts, now).as_deref(),
            Some("there is no certificate")
        );
        let other = bundle_for(&["myapp.example.com"]);
        assert_eq!(
            due(Some(&other), &hosts, now).as_deref(),
            Some("its certificate does not cover paas.example.com")
        );
        let fresh = bundle_for(&["paas.example.com"]);
        assert_eq!(due(Some(&fresh), &hosts, now), None);
        let near_its_end = fresh.valid_until - RENEW_BEFORE_SECS + 60;
        assert!(due(Some(&fresh), &hosts, near_its_end)
            .is_some_and(|why| why.starts_with("its certificate expires on")));
    }

    #[test]
    fn the_dashboard_wants_a_certificate_for_its_host_when_the_install_says() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let mut settings = Settings::example();
        assert_eq!(
            Subject::Dashboard.hosts(&root, &settings),
            ["paas.example.com"]
        );
        assert!(!Subject::Dashboard.wanted(&root, &settings));
        settings.dashboard_certs_auto = true;
        assert!(Subject::Dashboard.wanted(&root, &settings));
        // Kept where the router loads it from at its start.
        let pem = bundle_for(&["paas.example.com"]).pem;
        Subject::Dashboard.store(&root, &pem).unwrap();
        let served = crate::certs::for_dashboard(&root, &settings).unwrap();
        assert_eq!(served.summary.names, ["paas.example.com"]);
    }
}
