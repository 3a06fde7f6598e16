//! The stylesheet and the script, built into the binary (no Node build
//! step, nothing fetched at run time). Served to anyone: they hold no
//! data, and the login message is styled by them too.

use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use super::{full, Body};

const CSS: &str = include_str!("assets/dashboard.css");
const SCRIPT: &str = include_str!("assets/dashboard.js");

pub fn serve(name: &str) -> Response<Body> {
    let (body, kind) = match name {
        "dashboard.css" => (CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => ("no such file\n", "text/plain; charset=utf-8"),
    };
    let mut response = Response::new(full(body));
    if body.starts_with("no such") {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    // An hour: a new binary's assets are picked up soon after an upgrade.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}
