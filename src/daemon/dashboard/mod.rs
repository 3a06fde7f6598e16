//! The web dashboard (#23 points 3–6), served by the router itself for
//! `Host: paas.<domain>` (`paas.localhost` on a `--local` install) before
//! any app routing: no process of its own, no port of its own. The router
//! hands such a request here on hyper's path (`Dashboard::serve`).
//!
//! No page without a session: a session comes only from a one-time link
//! that `paas dashboard` writes for the SSH user (`crate::logins`); the
//! cookie is HttpOnly, SameSite=Strict, Secure on HTTPS. A user sees
//! exactly the apps `paas apps` lists for them (`views`); a stranger's
//! request for an app gets the same answer as one for no app. The two
//! buttons (restart, roll back) are POSTs carrying the session's CSRF
//! token, run the CLI's own workflows and are written to the audit trail
//! as the user (`actions`). `live` streams the log tail and serves the
//! graphs' data; `pages` renders the HTML; `assets` holds the stylesheet
//! and script, built into the binary.

mod actions;
mod assets;
mod live;
mod pages;
mod views;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};

use crate::logins::{self, Session};
use crate::state::Root;
use crate::state::DASHBOARD_HOST;

/// A body the dashboard answers with: the router's body type.
pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// The session cookie's name. Apps answer on sibling hosts
/// (`<app>.<domain>`), and any of them may set a cookie for the whole
/// domain: over HTTPS the name is `__Host-` prefixed, which browsers take
/// only from this host (Secure, no Domain, `Path=/`), so an app can
/// neither shadow nor plant the dashboard's session.
fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-paas_session"
    } else {
        "paas_session"
    }
}

/// How many cookies of the session's name a request may offer; each is
/// tried, so one planted beside the real one locks nobody out.
const MAX_SESSION_COOKIES: usize = 4;
/// The largest form a button sends (a token and a version).
const FORM_LIMIT: usize = 4096;

/// The dashboard of one install.
pub struct Dashboard {
    root: Root,
}

/// A metrics graph's time range, and the step of its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    Day,
    Week,
}

impl Range {
    pub const ALL: [Range; 3] = [Range::Hour, Range::Day, Range::Week];

    pub fn label(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::Day => "24h",
            Range::Week => "7d",
        }
    }

    pub fn seconds(self) -> u64 {
        match self {
            Range::Hour => 3600,
            Range::Day => 24 * 3600,
            Range::Week => 7 * 24 * 3600,
        }
    }

    /// 60 points for an hour, 288 for a day, 168 for a week: enough for a
    /// graph's width, few enough to send at once.
    pub fn step_secs(self) -> u64 {
        match self {
            Range::Hour => 60,
            Range::Day => 300,
            Range::Week => 3600,
        }
    }

    fn from_query(query: Option<&str>) -> Range {
        let wanted = query_value(query, "range");
        Range::ALL
            .into_iter()
            .find(|r| Some(r.label()) == wanted.as_deref())
            .unwrap_or(Range::Hour)
    }
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

impl Dashboard {
    pub fn new(root: Root) -> Arc<Dashboard> {
        Arc::new(Dashboard { root })
    }

    /// Whether a request for this host name (no port, lowercase) is the
    /// dashboard's: `paas.<domain>`.
    pub fn serves(host_name: &str, domain: &str) -> bool {
        host_name
            .strip_suffix(domain)
            .and_then(|rest| rest.strip_suffix('.'))
            == Some(DASHBOARD_HOST)
    }

    /// Answers a request for the dashboard's host.
    pub async fn serve(
        self: Arc<Self>,
        request: Request<Incoming>,
        secure: bool,
    ) -> Response<Body> {
        let path = request.uri().path().to_string();
        let query = request.uri().query().map(str::to_string);
        if let Some(asset) = path.strip_prefix("/assets/") {
            return assets::serve(asset);
        }
        // Only a GET takes a login link: link checkers and previews send
        // HEAD, and must not use up the user's one login.
        if let (&Method::GET, Some(token)) = (request.method(), path.strip_prefix("/login/")) {
            return self.log_in(token, secure).await;
        }
        // Otherwise HEAD is GET without the body (hyper sends none).
        let method = match request.method() {
            &Method::HEAD => Method::GET,
            other => other.clone(),
        };
        let cookies = session_cookies(&request, secure);
        let session = match cookies.is_empty() {
            false => {
                let (root, ids) = (self.root.clone(), cookies.clone());
                blocking(move || {
                    ids.iter().find_map(|id| {
                        let session = logins::session(&root, id, crate::crashes::now())
                            .filter(|session| session.secure || !secure)?;
                        as_keys_say(&root, id, session).map(|session| (id.clone(), session))
                    })
                })
                .await
            }
            true => None,
        };
        let Some((session_id, session)) = session else {
            let why = match cookies.first() {
                Some(_) => "Your session has ended (12 hours without a visit, or you logged out).",
                None => "This page needs a session.",
            };
            return html(StatusCode::UNAUTHORIZED, pages::login_message(why));
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (&method, segments.as_slice()) {
            (&Method::GET, [""]) => self.app_list(session).await,
            (&Method::GET, ["apps", app]) => {
                self.app_page(session, app, Range::from_query(query.as_deref()), query)
                    .await
            }
            (&Method::GET, ["apps", app, "metrics.json"]) => {
                live::metrics(
                    &self.root,
                    &session,
                    app,
                    Range::from_query(query.as_deref()),
                )
                .await
            }
            (&Method::GET, ["apps", app, "logs"]) => {
                live::log_stream(&self.root, &session, &session_id, app).await
            }
            (&Method::POST, ["logout"]) => {
                if let Err(refusal) = read_form(request, &session).await {
                    return refusal;
                }
                logins::end_session(&self.root, &session_id);
                let mut response =
                    html(StatusCode::OK, pages::login_message("You are logged out."));
                set_cookie(&mut response, "", secure, 0);
                response
            }
            (&Method::POST, ["apps", app, action @ ("restart" | "rollback")]) => {
                let app = app.to_string();
                let action = action.to_string();
                match read_form(request, &session).await {
                    Ok(form) => actions::run(&self.root, session, &app, &action, form).await,
                    Err(refusal) => refusal,
                }
            }
            _ => not_found(&session),
        }
    }

    async fn log_in(&self, token: &str, secure: bool) -> Response<Body> {
        let (root, token) = (self.root.clone(), token.to_string());
        let started = blocking(move || {
            let now = crate::crashes::now();
            let redeemed = logins::redeem_link(&root, &token, now)?;
            let landing = redeemed
                .app
                .map_or("/".to_string(), |app| format!("/apps/{app}"));
            let (id, _) = logins::start_session(&root, redeemed.holder, secure, now).ok()?;
            Some((id, landing))
        })
        .await;
        let Some((id, landing)) = started else {
            return html(
                StatusCode::FORBIDDEN,
                pages::login_message(
                    "This login link is used, expired or unknown: a link logs in once, within \
                     60 seconds.",
                ),
            );
        };
        // On to the page, with the cookie: the browser sends it with the
        // redirected request, a navigation to this same site.
        let mut response = see_other(&landing);
        set_cookie(&mut response, &id, secure, logins::SESSION_MAX_SECS);
        response
    }

    async fn app_list(&self, session: Session) -> Response<Body> {
        let root = self.root.clone();
        blocking(move || {
            let user = (session.holder.user.as_str(), session.csrf.as_str());
            let listed = root
                .settings()
                .and_then(|settings| views::app_list(&root, &settings, &session.holder));
            match listed {
                Ok(apps) => html(StatusCode::OK, pages::app_list(&apps, user)),
                Err(err) => html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    pages::problem("The apps could not be read", err.message(), "/", user),
                ),
            }
        })
        .await
    }

    async fn app_page(
        &self,
        session: Session,
        app: &str,
        range: Range,
        query: Option<String>,
    ) -> Response<Body> {
        let (root, app) = (self.root.clone(), app.to_string());
        blocking(move || {
            let user = (session.holder.user.as_str(), session.csrf.as_str());
            let Some((dir, role)) = views::visible_app(&root, &session.holder, &app) else {
                return not_found(&session);
            };
            let done = match query_value(query.as_deref(), "done").as_deref() {
                Some("restart") => Some(pages::Done::Restarted),
                Some("rollback") => query_value(query.as_deref(), "version")
                    .and_then(|v| v.parse().ok())
                    .map(pages::Done::RolledBack),
                _ => None,
            };
            // The graphs come with the page: drawn as it loads, no second
            // trip. Read while podman lists the dynos (the two slowest
            // parts of a page, at once).
            let (view, graphs) = std::thread::scope(|scope| {
                let graphs = scope.spawn(|| live::graphs_json(&root, &dir, range));
                let view = root.settings().and_then(|settings| {
                    let runtime = crate::runtime::podman::Podman::for_install(&root, &settings);
                    views::app_view(&settings, &dir, role, &runtime)
                });
                (view, graphs.join().expect("reading metrics does not panic"))
            });
            match view {
                Ok(view) => html(
                    StatusCode::OK,
                    pages::app_page(&view, range, &graphs, done, user),
                ),
                Err(err) => html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    pages::problem("The app could not be read", err.message(), "/", user),
                ),
            }
        })
        .await
    }
}

/// A session as the keys say now: a user whose last key was removed is
/// logged out, and one no longer an admin sees only their own apps (a
/// session from the server itself, with no key, stays as it was made).
fn as_keys_say(root: &Root, id: &str, mut session: Session) -> Option<Session> {
    if !session.holder.by_key {
        return Some(session);
    }
    let registry = crate::keys::Registry::load(root).ok()?;
    let user = &session.holder.user;
    if !registry
        .keys
        .iter()
        .any(|key| &key.user == user && key.deploy.is_none())
    {
        logins::end_session(root, id);
        return None;
    }
    session.holder.admin = registry.is_admin(user);
    Some(session)
}

/// Whether the session `id` is still live and may still see `app`: a
/// log stream open for long asks again now and then.
fn still_sees(root: &Root, id: &str, app: &str) -> bool {
    logins::session(root, id, crate::crashes::now())
        .and_then(|session| as_keys_say(root, id, session))
        .is_some_and(|session| views::visible_app(root, &session.holder, app).is_some())
}

/// Runs file and podman work off the router's threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("dashboard work does not panic")
}

/// The session cookies' values the request has (the first few).
fn session_cookies<B>(request: &Request<B>, secure: bool) -> Vec<String> {
    request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == cookie_name(secure))
        .map(|(_, value)| value.to_string())
        .take(MAX_SESSION_COOKIES)
        .collect()
}

/// Sets (or, with `max_age` 0, clears) the session cookie.
fn set_cookie(response: &mut Response<Body>, id: &str, secure: bool, max_age: i64) {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    let value =
        format!("{name}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
}

/// A POSTed form, read whole (at most `FORM_LIMIT` bytes), whose CSRF
/// token is the session's; else the refusal to send.
async fn read_form(
    request: Request<Incoming>,
    session: &Session,
) -> std::result::Result<Vec<(String, String)>, Response<Body>> {
    let user = (session.holder.user.as_str(), session.csrf.as_str());
    let limited = http_body_util::Limited::new(request.into_body(), FORM_LIMIT);
    let Ok(body) = limited.collect().await.map(|b| b.to_bytes()) else {
        return Err(html(
            StatusCode::PAYLOAD_TOO_LARGE,
            pages::problem(
                "The form is too large",
                "A button sends a few bytes.",
                "/",
                user,
            ),
        ));
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let token = form
        .iter()
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value.as_str());
    if !token.is_some_and(|token| same_secret(token, &session.csrf)) {
        return Err(html(
            StatusCode::FORBIDDEN,
            pages::problem(
                "Refused",
                "The form did not carry this session's token (it came from another page, or \
                 an older session). Nothing was done; press the button on the page again.",
                "/",
                user,
            ),
        ));
    }
    Ok(form)
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// The answer for an app that does not exist or that the user may not
/// see: the same, so a stranger learns nothing.
fn not_found(session: &Session) -> Response<Body> {
    let user = (session.holder.user.as_str(), session.csrf.as_str());
    html(
        StatusCode::NOT_FOUND,
        pages::problem(
            "Not found",
            "There is no such page, or no app of that name that you may see.",
            "/",
            user,
        ),
    )
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A page, never cached, never framed, scripts from here only.
fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut response = Response::new(full(page));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    with_safety_headers(headers);
    response
}

fn with_safety_headers(headers: &mut hyper::HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // The login link's token must not leave in a Referer.
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
}

/// 303 to `location`, after a button's POST.
fn see_other(location: &str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    with_safety_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_host_is_paas_under_the_domain() {
        assert!(Dashboard::serves("paas.localhost", "localhost"));
        assert!(Dashboard::serves("paas.example.com", "example.com"));
        assert!(!Dashboard::serves("paas.localhost", "example.com"));
        assert!(!Dashboard::serves("xpaas.localhost", "localhost"));
        assert!(!Dashboard::serves("app.paas.localhost", "localhost"));
        assert!(!Dashboard::serves("localhost", "localhost"));
    }

    #[test]
    fn ranges_come_from_the_query() {
        assert_eq!(Range::from_query(Some("range=24h")), Range::Day);
        assert_eq!(Range::from_query(Some("x=1&range=7d")), Range::Week);
        assert_eq!(Range::from_query(Some("range=1y")), Range::Hour);
        assert_eq!(Range::from_query(None), Range::Hour);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let request = Request::builder()
            .header(COOKIE, "a=1; paas_session=f00; b=2")
            .body(())
            .unwrap();
        assert_eq!(session_cookies(&request, false), ["f00"]);
        // Over HTTPS only the `__Host-` one, which no sibling host can set.
        assert!(session_cookies(&request, true).is_empty());
        let request = Request::builder()
            .header(COOKIE, "paas_session_x=1")
            .body(())
            .unwrap();
        assert!(session_cookies(&request, false).is_empty());
        // One planted by an app (a longer path comes first) does not hide
        // the real one.
        let request = Request::builder()
            .header(COOKIE, "paas_session=planted; paas_session=real")
            .body(())
            .unwrap();
        assert_eq!(session_cookies(&request, false), ["planted", "real"]);
    }
}
