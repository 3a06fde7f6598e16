//! The dashboard's HTML, server-rendered with maud (which escapes every
//! value it is given: names, descriptions and log lines are text, never
//! markup). One stylesheet and one script, both served from the binary
//! (`assets`); the buttons work without the script: a button opens a
//! confirmation (`<details>`), whose submit carries the session's CSRF
//! token.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::views::{AppSummary, AppView};
use super::Range;
use crate::release::Release;

/// The frame of every page: its title, who is logged in (none on the
/// login message), and the content.
pub fn layout(title: &str, user: Option<(&str, &str)>, content: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · paas" }
                link rel="stylesheet" href="/assets/dashboard.css";
                script src="/assets/dashboard.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "paas" }
                    @if let Some((user, csrf)) = user {
                        span.who { "Logged in as " strong { (user) } }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
    .into_string()
}

/// What anyone without a session sees.
pub fn login_message(why: &str) -> String {
    layout(
        "Log in",
        None,
        html! {
            h1 { "Log in to the dashboard" }
            p { (why) }
            p {
                "Run " code { "paas dashboard" } " on your laptop (or on the server): it opens a \
                 one-time link that logs you in as your SSH user. "
                code { "paas dashboard --print-url" } " prints the link instead."
            }
        },
    )
}

/// A page saying what went wrong and where to go back to.
pub fn problem(title: &str, text: &str, back: &str, user: (&str, &str)) -> String {
    layout(
        title,
        Some(user),
        html! {
            h1 { (title) }
            p.problem role="alert" { (text) }
            p { a href=(back) { "Back" } }
        },
    )
}

pub fn app_list(apps: &[AppSummary], user: (&str, &str)) -> String {
    layout(
        "Apps",
        Some(user),
        html! {
            h1 { "Apps" }
            @if apps.is_empty() {
                p { "You have no apps yet. Push one: " code { "git push deploy master" } "." }
            } @else {
                table.stack {
                    thead { tr { th { "App" } th { "Release" } th { "Dynos" } th { "Deployed" } } }
                    tbody {
                        @for app in apps {
                            tr {
                                td data-label="App" {
                                    a href={ "/apps/" (app.name) } { (app.name) }
                                    @if app.maintenance { " " span.tag { "maintenance" } }
                                }
                                td data-label="Release" { (release_name(app.release.as_ref())) }
                                td data-label="Dynos" { (formation(app)) }
                                td data-label="Deployed" {
                                    @if let Some(release) = &app.release { (when(&release.created_at)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn release_name(release: Option<&Release>) -> String {
    release.map_or("not deployed".into(), |r| format!("v{}", r.version))
}

fn formation(app: &AppSummary) -> String {
    if app.formation.is_empty() {
        return "none".into();
    }
    app.formation
        .iter()
        .map(|(process_type, count)| format!("{process_type}: {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `2026-12-07 11:20 UTC`, from a release's RFC 3339 time.
fn when(rfc3339: &str) -> String {
    crate::clock::rfc3339_to_unix(rfc3339).map_or(rfc3339.to_string(), when_unix)
}

fn when_unix(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "unknown".into())
}

/// What a finished button says at the top of the page.
pub enum Done {
    Restarted,
    RolledBack(u32),
}

pub fn app_page(
    view: &AppView,
    range: Range,
    graphs: &serde_json::Value,
    done: Option<Done>,
    user: (&str, &str),
) -> String {
    let app = &view.summary.name;
    let csrf = user.1;
    let current = view.summary.release.as_ref().map(|r| r.version);
    let content = html! {
        nav.crumbs { a href="/" { "Apps" } " / " (app) }
        h1 { (app) }
        @match done {
            Some(Done::Restarted) => p.notice role="status" { "Restarted every dyno." },
            Some(Done::RolledBack(version)) => p.notice role="status" { "Rolled back: v" (version) " is the current release." },
            None => {},
        }
        p.facts {
            a href=(view.summary.url) { (view.summary.url) }
            " · current release " strong { (release_name(view.summary.release.as_ref())) }
            @if view.summary.maintenance { " · " span.tag { "maintenance" } }
        }
        @if view.may_act && current.is_some() {
            details.action {
                summary { "Restart all dynos…" }
                form method="post" action={ "/apps/" (app) "/restart" } {
                    input type="hidden" name="csrf" value=(csrf);
                    p { "Every dyno of " strong { (app) } " is replaced by a new one." }
                    button type="submit" { "Yes, restart " (app) }
                }
            }
        }

        section aria-labelledby="metrics" {
            h2 #metrics { "Metrics" }
            nav.ranges aria-label="Time range" {
                @for each in Range::ALL {
                    @if each == range {
                        strong aria-current="page" { (each.label()) }
                    } @else {
                        a href={ "/apps/" (app) "?range=" (each.label()) } { (each.label()) }
                    }
                }
            }
            // The series as JSON for the script; `<` escaped, so no text
            // in it can end the element.
            script #graph-data type="application/json" {
                (PreEscaped(graphs.to_string().replace('<', "\\u003c")))
            }
            div.graphs data-metrics={ "/apps/" (app) "/metrics.json?range=" (range.label()) } {
                @for (id, title) in [("throughput", "Throughput (requests a minute)"), ("latency", "Response time (ms: p50, p95, p99)"), ("errors", "Errors (4xx, 5xx, router errors)"), ("memory", "Memory per dyno (MB)")] {
                    figure.graph data-graph=(id) {
                        figcaption { (title) }
                        p.summary { "Loading…" }
                    }
                }
            }
        }

        section aria-labelledby="dynos" {
            h2 #dynos { "Dynos" }
            @if let Some(error) = &view.dynos_error {
                p.problem { "The dynos could not be listed: " (error) }
            } @else if view.dynos.is_empty() {
                p { "No dynos run." }
            } @else {
                table.stack {
                    thead { tr { th { "Dyno" } th { "State" } th { "Release" } th { "Size" } th { "Since" } } }
                    tbody {
                        @for dyno in &view.dynos {
                            tr {
                                td data-label="Dyno" { (dyno.name) }
                                td data-label="State" {
                                    span class=(if dyno.healthy { "state good" } else { "state bad" }) { (dyno.state) }
                                }
                                td data-label="Release" { "v" (dyno.release) }
                                td data-label="Size" { (dyno.size) }
                                td data-label="Since" { (when_unix(dyno.since)) }
                            }
                        }
                    }
                }
            }
        }

        section aria-labelledby="activity" {
            h2 #activity { "Activity" }
            @if view.releases.is_empty() {
                p { "No releases yet." }
            } @else {
                table.stack {
                    thead { tr { th { "Release" } th { "What" } th { "Who" } th { "When" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for release in &view.releases {
                            tr {
                                td data-label="Release" {
                                    "v" (release.version)
                                    @if Some(release.version) == current { " " span.tag { "current" } }
                                }
                                td data-label="What" {
                                    (release.description)
                                    @if let Some(why) = &release.failed { " " span.state.bad { "failed: " (why) } }
                                }
                                td data-label="Who" { (release.user) }
                                td data-label="When" { (when(&release.created_at)) }
                                td data-label="Actions" {
                                    @if view.may_act && Some(release.version) != current && release.failed.is_none() && release.is_built() {
                                        details.action {
                                            summary { "Roll back to v" (release.version) "…" }
                                            form method="post" action={ "/apps/" (app) "/rollback" } {
                                                input type="hidden" name="csrf" value=(csrf);
                                                input type="hidden" name="version" value=(release.version);
                                                p { "A new release runs v" (release.version) "'s build with today's add-ons." }
                                                button type="submit" { "Yes, roll back to v" (release.version) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        section aria-labelledby="resources" {
            h2 #resources { "Add-ons and domains" }
            div.columns {
                div {
                    h3 { "Add-ons" }
                    @if view.addons.is_empty() { p { "None attached." } }
                    ul { @for (var, addon) in &view.addons { li { (addon) " as " code { (var) } } } }
                }
                div {
                    h3 { "Domains" }
                    ul {
                        li { (view.summary.url) " (default)" }
                        @for domain in &view.domains { li { (domain) } }
                    }
                }
            }
        }

        section aria-labelledby="logs" {
            h2 #logs { "Logs" }
            p.summary { "The latest lines, then new ones as they come." }
            pre.log tabindex="0" data-logs={ "/apps/" (app) "/logs" } aria-live="off" {}
        }
    };
    layout(app, Some(user), content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::dashboard::views::AppSummary;

    fn release(description: &str) -> Release {
        let text = format!(
            "version = 2\ndescription = {description:?}\nuser = \"<b>eve</b>\"\n\
             created_at = \"2026-12-07T11:00:00Z\"\n"
        );
        toml::from_str(&text).unwrap()
    }

    fn view(description: &str) -> AppView {
        AppView {
            summary: AppSummary {
                name: "web".into(),
                url: "http://web.example.com/".into(),
                release: Some(release(description)),
                formation: vec![("web".into(), 1)],
                maintenance: false,
            },
            releases: vec![release(description)],
            dynos: Vec::new(),
            dynos_error: None,
            addons: Vec::new(),
            domains: vec!["\"><script>x</script>".into()],
            may_act: true,
        }
    }

    #[test]
    fn what_users_wrote_is_text_never_markup() {
        let evil = "<script>alert(1)</script>";
        let graphs = serde_json::json!({ "note": "</script><script>alert(2)</script>" });
        let page = app_page(&view(evil), Range::Hour, &graphs, None, ("eve", "t0ken"));
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("&lt;b&gt;eve&lt;/b&gt;"), "{page}");
        assert!(!page.contains("\"><script>x"), "{page}");
        // The graphs' JSON cannot end its element.
        assert!(
            page.contains("\\u003c/script>\\u003cscript>alert(2)"),
            "{page}"
        );
        // Every form carries the session's token.
        let forms = page.matches("<form").count();
        assert_eq!(forms, page.matches("name=\"csrf\" value=\"t0ken\"").count());
        assert!(forms >= 2, "logout and restart at least: {page}");
    }

    #[test]
    fn the_list_and_the_login_message() {
        let apps = vec![view("Deploy 1234567").summary];
        let page = app_list(&apps, ("eve", "t0ken"));
        assert!(page.contains("<a href=\"/apps/web\">web</a>"), "{page}");
        assert!(page.contains("v2") && page.contains("web: 1"), "{page}");
        let login = login_message("This page needs a session.");
        assert!(login.contains("paas dashboard --print-url"), "{login}");
        assert!(!login.contains("Log out"), "no session, no logout: {login}");
    }
}
