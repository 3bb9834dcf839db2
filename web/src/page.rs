//! The HTML around every page (maud escapes whatever it interpolates), and the error pages.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::session::Current;

/// A whole page: title, the navigation for the session (`admin`: None for a mailbox user,
/// else whether the admin is a superadmin), a notice, the content.
pub fn layout(
    title: &str,
    session: Option<&Current>,
    admin: Option<bool>,
    notice: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - mailroom" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                header {
                    strong { "mailroom" }
                    @if let Some(s) = session {
                        nav {
                            @if let Some(superadmin) = admin {
                                a href="/admin" { "Overview" } " "
                                a href="/admin/domains" { "Domains" } " "
                                a href="/admin/aliasdomains" { "Alias domains" } " "
                                @if superadmin {
                                    a href="/admin/admins" { "Admins" } " "
                                }
                                a href="/admin/queue" { "Queue" } " "
                                a href="/admin/log" { "Log" } " "
                            } @else {
                                a href="/account" { "My account" } " "
                                a href="/account/vacation" { "Out of office" } " "
                                a href="/account/filters" { "Filters" } " "
                            }
                            span.who { (s.who.name()) } " "
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(n) = notice {
                        p.notice role="status" { (n) }
                    }
                    (body)
                }
            }
        }
    }
}

/// What a page handler answers: `Err` is the early answer (login form, 403, a form's error),
/// so that the steps every handler takes chain with `?`.
pub type Page = Result<Response, Response>;

/// After a change: back to the page `to` with the fixed notice `code` (see `login::Done`).
pub fn done(to: &str, code: &str) -> Page {
    Ok(axum::response::Redirect::to(&format!("{to}?ok={code}")).into_response())
}

/// An HTML answer.
pub fn ok(markup: Markup) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

/// An error page with `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! { p.error { (message) } p { a href="/" { "Start page" } } };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        layout(title, None, None, None, body).into_string(),
    )
        .into_response()
}

/// The database did not answer: 503, try again later (never an answer that looks final).
pub fn unavailable(detail: &str) -> Response {
    tracing::error!(error = %detail, "directory unavailable");
    error(StatusCode::SERVICE_UNAVAILABLE, "The user database is not answering. Try again in a moment.")
}

/// A logged-in visitor without the right to this page.
pub fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, "You may not see or change this.")
}

/// No such page.
pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "There is no such page.")
}

/// The stylesheet (the only one; CSP allows styles from this origin only).
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        STYLE,
    )
        .into_response()
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\
header{display:flex;gap:1em;align-items:center;justify-content:space-between;padding:.6em 1em;background:#234;color:#fff}\
header a{color:#fff;margin-right:.8em}header .who{opacity:.8;margin-right:.5em}\
main{max-width:60em;margin:1em auto;padding:0 1em}\
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #ddd}\
form{margin:.5em 0}form.inline{display:inline}label{display:block;margin:.4em 0}\
input[type=text],input[type=password],input[type=number],input[type=email]{padding:.3em;min-width:16em}\
button{padding:.3em .8em}.notice{background:#e8f4e8;padding:.5em;border-left:4px solid #393}\
.error{background:#fbeaea;padding:.5em;border-left:4px solid #c33}fieldset{margin:1em 0;border:1px solid #ccc}";
