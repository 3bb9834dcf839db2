//! Logging in and out, and a mailbox user's password change.

use std::sync::Arc;

use authlib::{Rejection, Verdict};
use axum::extract::{Extension, Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use password::Scheme;
use proto::{Address, Secret};
use serde::Deserialize;

use crate::app::{App, Req, to_login};
use crate::page;
use crate::session::{Who, token};

/// `?ok=` codes of the pages, turned into fixed messages (nothing from the URL is shown).
#[derive(Deserialize, Default)]
pub struct Done {
    ok: Option<String>,
}

impl Done {
    pub fn notice(&self) -> Option<&'static str> {
        Some(match self.ok.as_deref()? {
            "password" => "Your password was changed.",
            "domain-added" => "The domain was added.",
            "domain-saved" => "The domain was saved.",
            "domain-deleted" => "The domain was deleted.",
            "mailbox-added" => "The mailbox was added.",
            "mailbox-saved" => "The mailbox was saved.",
            "mailbox-password" => "The mailbox's password was reset.",
            "mailbox-deleted" => "The mailbox was deleted.",
            "alias-added" => "The alias was added.",
            "alias-deleted" => "The alias was deleted.",
            "aliasdomain-added" => "The alias domain was added.",
            "aliasdomain-saved" => "The alias domain was saved.",
            "aliasdomain-deleted" => "The alias domain was deleted.",
            "admin-added" => "The admin was added.",
            "admin-deleted" => "The admin was deleted.",
            "logout" => "You are logged out.",
            "vacation" => "Your out-of-office reply was saved.",
            "filters" => "Your filter rules were saved.",
            "forwarding" => "Your forwarding was saved.",
            "queue-changed" => "The message was changed.",
            "queue-flushed" => "Every deferred message is being tried now.",
            _ => return None,
        })
    }
}

/// `/`: the page of whoever is logged in, else the login form.
pub async fn home(State(app): State<Arc<App>>, Extension(req): Extension<Req>) -> Response {
    match &req.session {
        None => to_login(),
        Some(s) => match s.who {
            Who::Admin(_) => match app.admin_of(s).await {
                Ok(Some(_)) => Redirect::to("/admin").into_response(),
                Ok(None) => to_login(),
                Err(r) => r,
            },
            Who::User(_) => Redirect::to("/account").into_response(),
        },
    }
}

/// The login form, with a fresh form token in its cookie.
pub async fn form(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(done): Query<Done>,
) -> Response {
    login_page(&app, &req, StatusCode::OK, done.notice())
}

fn login_page(app: &App, req: &Req, status: StatusCode, notice: Option<&str>) -> Response {
    let csrf = req.login_csrf.clone().unwrap_or_else(token);
    let body = html! {
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            label { "Address or admin login " input type="text" name="username" autocomplete="username" required autofocus; }
            label { "Password " input type="password" name="password" autocomplete="current-password" required; }
            button type="submit" { "Log in" }
        }
    };
    let mut r = (status, page::ok(page::layout("Log in", None, None, notice, body))).into_response();
    r.headers_mut().insert(header::SET_COOKIE, app.login_cookie(Some(&csrf)));
    r
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// Check a login: an admin first, then a mailbox; one answer for every failure, delayed as
/// mailroom-saslauthd delays it, logged as the daemons log it (fail2ban's filter).
pub async fn submit(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<LoginForm>,
) -> Response {
    let shown = proto::sasl::printable(f.username.trim());
    let login = f.username.trim().to_string();
    let password = Secret::from(f.password);
    let client = req.client.clone();
    let who = match check(&app, &login, &password).await {
        Ok(Some(who)) => who,
        Ok(None) => {
            let mut keys = vec![login.to_ascii_lowercase()];
            keys.push(client.clone());
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let delay = app.throttle.failure(&keys);
            crate::metrics::login("failed");
            tracing::info!("authentication failed user={shown} service=web client={client}");
            tokio::time::sleep(delay).await;
            return login_page(&app, &req, StatusCode::UNAUTHORIZED, Some("Login failed."));
        }
        Err(e) => {
            crate::metrics::login("unavailable");
            tracing::warn!("authentication unavailable user={shown} service=web client={client}: {e}");
            return page::unavailable(&e);
        }
    };
    app.throttle.success(&login.to_ascii_lowercase());
    crate::metrics::login("ok");
    tracing::info!("login user={} service=web client={client}", who.name());
    // A new id at login: a session id known before it (fixation) is worth nothing.
    if let Some(old) = &req.session {
        app.sessions.remove(&old.id);
    }
    let id = app.sessions.create(who.clone());
    let to = match who {
        Who::Admin(_) => "/admin",
        Who::User(_) => "/account",
    };
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().append(header::SET_COOKIE, app.session_cookie(Some(&id)));
    r.headers_mut().append(header::SET_COOKIE, app.login_cookie(None));
    r
}

async fn check(app: &App, login: &str, password: &Secret) -> Result<Option<Who>, String> {
    if login.is_empty() || password.is_empty() || login.len() > 255 {
        return Ok(None);
    }
    match app.dir.admin_login(login, password).await.map_err(|e| e.to_string())? {
        Ok(a) => return Ok(Some(Who::Admin(a.username))),
        Err(Rejection::UnknownUser) => {}
        Err(_) => return Ok(None),
    }
    match app.dir.authenticate(login, password).await.map_err(|e| e.to_string())? {
        Verdict::Accepted(user) => Ok(Some(Who::User(user.to_string()))),
        Verdict::Rejected(_) => Ok(None),
    }
}

/// End the session.
pub async fn logout(State(app): State<Arc<App>>, Extension(req): Extension<Req>) -> Response {
    if let Some(s) = &req.session {
        app.sessions.remove(&s.id);
    }
    let mut r = Redirect::to("/login?ok=logout").into_response();
    r.headers_mut().insert(header::SET_COOKIE, app.session_cookie(None));
    r
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    again: String,
}

/// The checks a new password must pass; the message says which failed.
pub fn new_password_problem(new: &str, again: &str) -> Option<&'static str> {
    if new != again {
        return Some("The two new passwords differ.");
    }
    if new.chars().count() < 8 {
        return Some("The new password needs at least 8 characters.");
    }
    if new.len() > password::MAX_PASSWORD_LEN {
        return Some("The new password is too long.");
    }
    None
}

/// Change the user's own password: the current one required; every session of the user ends.
pub async fn change_password(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<PasswordForm>,
) -> Response {
    let Some(s) = &req.session else { return to_login() };
    let Who::User(user) = &s.who else { return page::forbidden() };
    let Ok(addr) = Address::parse(user) else { return page::forbidden() };
    if let Some(problem) = new_password_problem(&f.new, &f.again) {
        return page::error(StatusCode::BAD_REQUEST, problem);
    }
    match app.dir.authenticate(user, &Secret::from(f.current)).await {
        Ok(Verdict::Accepted(_)) => {}
        Ok(Verdict::Rejected(_)) => {
            let delay = app.throttle.failure(&[user.as_str(), req.client.as_str()]);
            tracing::info!("authentication failed user={user} service=web client={}", req.client);
            tokio::time::sleep(delay).await;
            return page::error(StatusCode::FORBIDDEN, "The current password is wrong.");
        }
        Err(e) => return page::unavailable(&e.to_string()),
    }
    let hash = match app.dir.hash_password(Secret::from(f.new), Scheme::Argon2id).await {
        Ok(h) => h,
        Err(e) => return page::error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if let Err(e) = app.dir.set_password(&addr, &hash).await {
        return crate::admin::refused(e);
    }
    let who = format!("{user} ({})", req.client);
    let _ = app.dir.log_change(&who, addr.domain().as_str(), "edit_password", user).await;
    tracing::info!("password changed user={user} service=web client={}", req.client);
    app.sessions.remove_all(&s.who);
    let id = app.sessions.create(s.who.clone());
    let mut r = Redirect::to("/account?ok=password").into_response();
    r.headers_mut().insert(header::SET_COOKIE, app.session_cookie(Some(&id)));
    r
}
