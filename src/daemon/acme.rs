//! `certs:auto`: certificates from an ACME CA (Let's Encrypt unless the
//! install names another directory) by HTTP-01, got and renewed inside the
//! daemon: the router answers the CA's challenge requests, and a loop renews
//! each certificate 30 days before it expires. No cron, no certbot.

use std::collections::HashMap;
use std::future::Future;
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

use crate::net;
use crate::state::{self, AppDir, AppName, Root, Settings};

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
    pub fn load(app: &AppDir) -> Status {
        state::read_toml(&app.acme_status_file()).unwrap_or_default()
    }

    /// Whether a failure lately says wait before trying again.
    fn backing_off(&self, now: i64) -> bool {
        let doublings = self.failures.saturating_sub(1).min(10);
        let wait = (RETRY_AFTER_SECS << doublings).min(RETRY_AT_MOST_SECS);
        self.failures > 0 && self.attempted_at.is_some_and(|at| now - at < wait)
    }
}

/// Why the app needs a certificate now, if it does.
pub fn due(settings: &Settings, app: &AppDir, now: i64) -> Option<String> {
    let Some(bundle) = crate::certs::load(app) else {
        return Some("it has no certificate".into());
    };
    let missing: Vec<String> = crate::certs::app_hosts(settings, app)
        .into_iter()
        .filter(|host| {
            !bundle
                .summary
                .names
                .iter()
                .any(|n| crate::certs::covers(n, host))
        })
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
    /// Loads an app's routes again once its certificate changed.
    reload: Box<dyn Fn(&AppName) + Send + Sync>,
}

impl Manager {
    pub fn new(root: Root, reload: Box<dyn Fn(&AppName) + Send + Sync>) -> Arc<Manager> {
        Arc::new(Manager {
            root,
            challenges: Arc::default(),
            busy: tokio::sync::Mutex::new(()),
            reload,
        })
    }

    /// Every app with `certs:auto` whose certificate is due, unless its last
    /// attempt failed less than `RETRY_AFTER_SECS` ago.
    pub async fn renew_loop(self: Arc<Self>) {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let (Ok(settings), Ok(apps)) = (self.root.settings(), self.root.apps()) else {
                continue;
            };
            for name in apps {
                let app = self.root.app(&name);
                if !app.settings().is_ok_and(|s| s.certs_auto) {
                    continue;
                }
                // Decided under `busy`: an issuance `certs:auto:enable` just
                // made leaves nothing to do.
                let _one_at_a_time = self.busy.lock().await;
                let now = crate::crashes::now();
                let Some(reason) = due(&settings, &app, now) else {
                    continue;
                };
                if Status::load(&app).backing_off(now) {
                    continue;
                }
                eprintln!("paas daemon: {name}: getting a certificate: {reason}");
                if let Err(err) = self.issue_locked(&name).await {
                    eprintln!("paas daemon: {name}: {err}");
                }
            }
        }
    }

    /// Gets a certificate for the app's hosts now and serves it; says what
    /// it got, or why not.
    pub async fn issue(&self, name: &AppName) -> Result<String, String> {
        let _one_at_a_time = self.busy.lock().await;
        self.issue_locked(name).await
    }

    async fn issue_locked(&self, name: &AppName) -> Result<String, String> {
        let settings = self.root.settings().map_err(|err| err.to_string())?;
        let app = self.root.app(name);
        let names = crate::certs::app_hosts(&settings, &app);
        let result = self.order(&settings, &names).await;
        let mut status = Status::load(&app);
        let now = crate::crashes::now();
        status.attempted_at = Some(now);
        let stored = match result {
            // The app's lock may wait for a deploy: not on a router thread.
            Ok(pem) => {
                let app = app.clone();
                tokio::task::spawn_blocking(move || store(&app, &pem))
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
                crate::logs::platform(
                    &app,
                    "router",
                    &format!(
                        "Certificate issued for {} (expires {})",
                        summary.names.join(", "),
                        summary.expires_at
                    ),
                );
                (self.reload)(name);
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
            crate::logs::platform(&app, "router", &format!("Certificate not issued: {err}"));
        }
        let _ = state::write_toml(&app.acme_status_file(), &status, 0o644);
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

/// Checks the issued bundle as `certs:add` would, and keeps it.
fn store(app: &AppDir, pem: &str) -> Result<crate::certs::Summary, String> {
    let bundle = crate::certs::check(pem).map_err(|err| err.to_string())?;
    let _lock = app.lock().map_err(|err| err.to_string())?;
    crate::certs::store(app, &bundle).map_err(|err| err.to_string())?;
    Ok(bundle.summary)
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
