//! The admin pages, postfixadmin's: domains, mailboxes, aliases, admins, the log. A domain
//! admin sees and changes only their domains; domains and admins themselves are the
//! superadmin's. Every change goes through authlib (the code `mailroomctl` runs) and is written
//! to postfixadmin's `log` table.

use std::sync::Arc;

use authlib::{AdminError, AdminInfo, DomainSettings, QUOTA_MULTIPLIER, limit_allows};
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use password::Scheme;
use proto::{Address, Domain, Secret};
use serde::Deserialize;

use crate::app::{App, Req, to_login};
use crate::login::{Done, new_password_problem};
use crate::page::{self, Page};
use crate::session::{Current, Who};

/// An admin change that was refused or could not be made.
pub fn refused(e: AdminError) -> Response {
    match e {
        AdminError::Unavailable(u) => page::unavailable(&u.to_string()),
        AdminError::Refused(m) => page::error(StatusCode::CONFLICT, &m),
    }
}

fn bad(msg: &str) -> Response {
    page::error(StatusCode::BAD_REQUEST, msg)
}

/// A form's list of addresses or domains (separated by commas, spaces or lines), each
/// checked with `parse`; 400 with `invalid` for the first that is not one.
pub fn list_of<T, E>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    invalid: &str,
) -> Result<Vec<T>, Response> {
    raw.split([',', '\n', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| parse(t).map_err(|_| bad(invalid)))
        .collect()
}

/// A domain's settings and limits (404 with `missing` when there is no such domain).
async fn settings_of(app: &App, dom: &Domain, missing: &str) -> Result<DomainSettings, Response> {
    match app.dir.domain_settings(dom).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(page::error(StatusCode::NOT_FOUND, missing)),
        Err(e) => Err(page::unavailable(&e.to_string())),
    }
}

/// Whether the domain's current counts leave room (`allows`); 409 with `full` when not.
async fn room_for(
    app: &App,
    dom: &Domain,
    allows: impl Fn(&authlib::DomainUsage) -> bool,
    full: &str,
) -> Result<(), Response> {
    match app.dir.domain_usage(dom).await {
        Ok(u) if allows(&u) => Ok(()),
        Ok(_) => Err(page::error(StatusCode::CONFLICT, full)),
        Err(e) => Err(page::unavailable(&e.to_string())),
    }
}

/// The session's admin, or the answer for everyone else: the login form for visitors, 403
/// for mailbox users.
pub async fn admin(app: &App, req: &Req) -> Result<(Current, AdminInfo), Response> {
    let Some(s) = req.session.clone() else { return Err(to_login()) };
    match app.admin_of(&s).await? {
        Some(a) => Ok((s, a)),
        None if matches!(s.who, Who::Admin(_)) => Err(to_login()),
        None => Err(page::forbidden()),
    }
}

pub async fn superadmin(app: &App, req: &Req) -> Result<(Current, AdminInfo), Response> {
    let (s, a) = admin(app, req).await?;
    if !a.superadmin {
        return Err(page::forbidden());
    }
    Ok((s, a))
}

/// A domain from the URL that this admin manages (404 for one that is not a domain name,
/// 403 for one that is not theirs, whether it exists or not).
pub fn managed_domain(a: &AdminInfo, raw: &str) -> Result<Domain, Response> {
    let d = Domain::parse(raw).map_err(|_| page::error(StatusCode::NOT_FOUND, "No such domain."))?;
    if !a.manages(d.as_str()) {
        return Err(page::forbidden());
    }
    Ok(d)
}

fn managed_address(a: &AdminInfo, raw: &str) -> Result<Address, Response> {
    let addr = Address::parse(raw).map_err(|_| page::error(StatusCode::NOT_FOUND, "No such mailbox."))?;
    if !a.manages(addr.domain().as_str()) {
        return Err(page::forbidden());
    }
    Ok(addr)
}

pub async fn record(app: &App, req: &Req, a: &AdminInfo, domain: &str, action: &str, data: &str) {
    let who = format!("{} ({})", a.username, req.client);
    if let Err(e) = app.dir.log_change(&who, domain, action, data).await {
        tracing::error!(error = %e, action, "could not write the change log");
    }
    tracing::info!(admin = %a.username, client = %req.client, domain, action, data, "change");
}

pub fn csrf(s: &Current) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn limit(l: i64) -> String {
    match l {
        0 => "unlimited".into(),
        l if l < 0 => "disabled".into(),
        l => l.to_string(),
    }
}

/// The domains this admin sees, with their counts.
async fn visible_domains(app: &App, a: &AdminInfo) -> Result<Vec<authlib::DomainInfo>, Response> {
    let all = app.dir.list_domains().await.map_err(refused)?;
    Ok(all.into_iter().filter(|d| a.manages(&d.domain)).collect())
}

/// `/admin`: the domains at a glance, and the admin's own password.
pub async fn dashboard(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(d): Query<Done>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let domains = visible_domains(&app, &a).await?;
    let body = html! {
        p { "Logged in as " strong { (a.username) } ", "
            @if a.superadmin { "superadmin." } @else { "admin of " (a.domains.join(", ")) "." } }
        (domain_table(&domains))
        h2 { "Change my password" }
        form method="post" action="/admin/password" {
            (csrf(&s))
            label { "Current password " input type="password" name="current" autocomplete="current-password" required; }
            label { "New password " input type="password" name="new" autocomplete="new-password" required minlength="8"; }
            label { "New password again " input type="password" name="again" autocomplete="new-password" required minlength="8"; }
            button type="submit" { "Change password" }
        }
    };
    Ok(page::ok(page::layout("Overview", Some(&s), Some(a.superadmin), d.notice(), body)))
}

fn domain_table(domains: &[authlib::DomainInfo]) -> Markup {
    html! {
        table {
            thead { tr { th { "Domain" } th { "Active" } th { "Mailboxes" } th { "Aliases" } } }
            tbody {
                @for d in domains {
                    tr {
                        td { a href=(format!("/admin/domains/{}", d.domain)) { (d.domain) } }
                        td { (yes(d.active)) }
                        td { (d.mailboxes) }
                        td { (d.aliases - d.mailboxes) }
                    }
                }
            }
        }
    }
}

/// `/admin/domains`: the list, and (superadmins) the form to add one.
pub async fn domains(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(d): Query<Done>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let domains = visible_domains(&app, &a).await?;
    let body = html! {
        (domain_table(&domains))
        @if a.superadmin {
            h2 { "Add a domain" }
            form method="post" action="/admin/domains" {
                (csrf(&s))
                label { "Domain " input type="text" name="domain" required; }
                label { "Description " input type="text" name="description"; }
                (limit_fields(None))
                button type="submit" { "Add domain" }
            }
        }
    };
    Ok(page::ok(page::layout("Domains", Some(&s), Some(a.superadmin), d.notice(), body)))
}

fn limit_fields(s: Option<&DomainSettings>) -> Markup {
    let (m, al, q) = s.map_or((0, 0, 0), |s| (s.mailboxes, s.aliases, s.maxquota));
    html! {
        label { "Mailboxes (0 unlimited, -1 none) " input type="number" name="mailboxes" value=(m) min="-1"; }
        label { "Aliases (0 unlimited, -1 none) " input type="number" name="aliases" value=(al) min="-1"; }
        label { "Largest mailbox quota in MB (0 unlimited) " input type="number" name="maxquota" value=(q) min="0"; }
    }
}

#[derive(Deserialize)]
pub struct DomainForm {
    #[serde(default)]
    domain: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    mailboxes: i64,
    #[serde(default)]
    aliases: i64,
    #[serde(default)]
    maxquota: i64,
    active: Option<String>,
}

fn check_limits(f: &DomainForm) -> Result<(), Response> {
    if f.mailboxes < -1 || f.aliases < -1 || f.maxquota < 0 {
        return Err(bad("Limits are -1 (none), 0 (unlimited) or a positive number."));
    }
    if f.description.chars().count() > 255 {
        return Err(bad("The description is too long."));
    }
    Ok(())
}

/// Add a domain (superadmins).
pub async fn add_domain(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<DomainForm>,
) -> Page {
    let (_, a) = superadmin(&app, &req).await?;
    let Ok(d) = Domain::parse(f.domain.trim()) else { return Err(bad("That is not a domain name.")) };
    check_limits(&f)?;
    app.dir.add_domain(&d, &f.description).await.map_err(refused)?;
    let settings = DomainSettings {
        domain: d.to_string(),
        description: f.description.clone(),
        aliases: f.aliases,
        mailboxes: f.mailboxes,
        maxquota: f.maxquota,
        active: true,
    };
    app.dir.set_domain(&settings).await.map_err(refused)?;
    record(&app, &req, &a, d.as_str(), "create_domain", d.as_str()).await;
    page::done("/admin/domains", "domain-added")
}

/// `?page=N` of a list (from 1).
#[derive(Deserialize)]
pub struct PageNo {
    page: Option<String>,
}

impl PageNo {
    /// The page asked for; anything that is not a page number is the first.
    fn get(&self) -> i64 {
        self.page.as_deref().and_then(|p| p.parse::<i64>().ok()).filter(|p| *p >= 1).unwrap_or(1)
    }
}

/// Previous and next links of a paged page, postfixadmin's way: one page number for the
/// mailbox and alias lists, as many pages as the longer one needs.
fn pager(base: &str, page: i64, pages: i64) -> Markup {
    html! {
        @if pages > 1 {
            nav.pager {
                @if page > 1 { a href=(format!("{base}?page={}", page - 1)) { "Previous" } " " }
                "Page " (page) " of " (pages)
                @if page < pages { " " a href=(format!("{base}?page={}", page + 1)) { "Next" } }
            }
        }
    }
}

/// One domain: its settings, a page of its mailboxes and aliases, its admins.
pub async fn domain(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Query(d): Query<Done>,
    Query(p): Query<PageNo>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let dom = managed_domain(&a, &raw)?;
    let settings = settings_of(&app, &dom, "No such domain.").await?;
    let size = app.page_size;
    let page = p.get();
    let offset = (page - 1).saturating_mul(size);
    let ((users, user_count), (aliases, alias_count), admins) = tokio::try_join!(
        app.dir.list_users_page(&dom, offset, size),
        app.dir.list_aliases_page(&dom, offset, size),
        app.dir.domain_admins(&dom)
    )
    .map_err(refused)?;
    let pages = ((user_count.max(alias_count) + size - 1) / size).max(1);
    let alias_domains = crate::alias_domain::visible_alias_domains(&app, &a, Some(&dom)).await?;
    let base = format!("/admin/domains/{dom}");
    let body = html! {
        p { (settings.description) }
        p { "Active: " (yes(settings.active)) ". Mailboxes: " (user_count) " of " (limit(settings.mailboxes))
            ". Aliases: " (alias_count) " of " (limit(settings.aliases))
            ". Largest mailbox quota: " (if settings.maxquota == 0 { "unlimited".to_string() } else { format!("{} MB", settings.maxquota) }) "." }
        p { "Domain admins: " @if admins.is_empty() { "none" } @else { (admins.join(", ")) } }
        p { a href=(format!("{base}/dns")) { "DNS records to publish" } }
        h2 { "Mailboxes" }
        (pager(&base, page, pages))
        table {
            thead { tr { th { "Address" } th { "Name" } th { "Quota" } th { "Active" } } }
            tbody {
                @for u in &users {
                    tr {
                        td { a href=(format!("/admin/mailboxes/{}", u.username)) { (u.username) } }
                        td { (u.name) }
                        td { (quota_text(u.quota)) }
                        td { (yes(u.active)) }
                    }
                }
            }
        }
        h3 { "Add a mailbox" }
        form method="post" action=(format!("{base}/mailboxes")) {
            (csrf(&s))
            label { "Address " input type="text" name="local_part" required; "@" (dom) }
            label { "Name " input type="text" name="name"; }
            label { "Password " input type="password" name="password" autocomplete="new-password" required minlength="8"; }
            label { "Password again " input type="password" name="again" autocomplete="new-password" required minlength="8"; }
            label { "Quota in MB (0 none) " input type="number" name="quota" value=(settings.maxquota) min="0"; }
            button type="submit" { "Add mailbox" }
        }
        h2 { "Aliases" }
        (pager(&base, page, pages))
        table {
            thead { tr { th { "Alias" } th { "Goes to" } th { "Active" } th {} } }
            tbody {
                @for al in &aliases {
                    tr {
                        td { (al.address) }
                        td { (al.goto.join(", ")) }
                        td { (yes(al.active)) }
                        td {
                            form.inline method="post" action=(format!("/admin/aliases/{}/delete", al.address)) {
                                (csrf(&s))
                                button type="submit" { "Delete" }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Add an alias" }
        form method="post" action=(format!("{base}/aliases")) {
            (csrf(&s))
            label { "Alias (empty: catch-all) " input type="text" name="local_part"; "@" (dom) }
            label { "Goes to (addresses, comma-separated) " input type="text" name="goto" required; }
            button type="submit" { "Add alias" }
        }
        h2 { "Alias domains" }
        (crate::alias_domain::section(&s, &alias_domains, Some(&dom)))
        @if a.superadmin {
            h2 { "Settings" }
            form method="post" action=(base) {
                (csrf(&s))
                label { "Description " input type="text" name="description" value=(settings.description); }
                (limit_fields(Some(&settings)))
                label { input type="checkbox" name="active" value="1" checked[settings.active]; " Active" }
                button type="submit" { "Save" }
            }
            h2 { "Delete" }
            form method="post" action=(format!("{base}/delete")) {
                (csrf(&s))
                p { "Only a domain without mailboxes and aliases can be deleted." }
                button type="submit" { "Delete " (dom) }
            }
        }
    };
    Ok(page::ok(page::layout(dom.as_str(), Some(&s), Some(a.superadmin), d.notice(), body)))
}

fn quota_text(bytes: i64) -> String {
    if bytes == 0 { "none".into() } else { format!("{} MB", bytes / QUOTA_MULTIPLIER) }
}

/// Edit a domain's description, limits and active flag (superadmins).
pub async fn edit_domain(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Form(f): Form<DomainForm>,
) -> Page {
    let (_, a) = superadmin(&app, &req).await?;
    let Ok(dom) = Domain::parse(&raw) else {
        return Err(page::error(StatusCode::NOT_FOUND, "No such domain."));
    };
    check_limits(&f)?;
    let settings = DomainSettings {
        domain: dom.to_string(),
        description: f.description.clone(),
        aliases: f.aliases,
        mailboxes: f.mailboxes,
        maxquota: f.maxquota,
        active: f.active.is_some(),
    };
    app.dir.set_domain(&settings).await.map_err(refused)?;
    let data = format!(
        "active={} mailboxes={} aliases={} maxquota={}",
        yes(settings.active),
        f.mailboxes,
        f.aliases,
        f.maxquota
    );
    record(&app, &req, &a, dom.as_str(), "edit_domain", &data).await;
    page::done(&format!("/admin/domains/{dom}"), "domain-saved")
}

/// Delete a domain with no mailboxes or aliases left (superadmins).
pub async fn delete_domain(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
) -> Page {
    let (_, a) = superadmin(&app, &req).await?;
    let Ok(dom) = Domain::parse(&raw) else {
        return Err(page::error(StatusCode::NOT_FOUND, "No such domain."));
    };
    app.dir.del_domain(&dom).await.map_err(refused)?;
    record(&app, &req, &a, dom.as_str(), "delete_domain", dom.as_str()).await;
    page::done("/admin/domains", "domain-deleted")
}

#[derive(Deserialize)]
pub struct MailboxForm {
    local_part: String,
    #[serde(default)]
    name: String,
    password: String,
    again: String,
    #[serde(default)]
    quota: i64,
}

/// The quota (MB) a mailbox of `s` may get: within the domain's `maxquota`.
fn allowed_quota(s: &DomainSettings, quota_mb: i64) -> Result<u64, Response> {
    if quota_mb < 0 {
        return Err(bad("The quota cannot be negative."));
    }
    if s.maxquota > 0 && (quota_mb == 0 || quota_mb > s.maxquota) {
        return Err(bad(&format!("The quota must be between 1 and {} MB in this domain.", s.maxquota)));
    }
    quota_mb
        .checked_mul(QUOTA_MULTIPLIER)
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(|| bad("The quota is too large."))
}

/// Add a mailbox, within the domain's limits.
pub async fn add_mailbox(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Form(f): Form<MailboxForm>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let dom = managed_domain(&a, &raw)?;
    let Ok(addr) = Address::parse(&format!("{}@{dom}", f.local_part.trim())) else {
        return Err(bad("That is not a valid address."));
    };
    if let Some(p) = new_password_problem(&f.password, &f.again) {
        return Err(bad(p));
    }
    let settings = settings_of(&app, &dom, "No such domain.").await?;
    let quota = allowed_quota(&settings, f.quota)?;
    room_for(
        &app,
        &dom,
        |u| limit_allows(settings.mailboxes, u.mailboxes),
        "This domain has all the mailboxes it may have.",
    )
    .await?;
    let hash = app
        .dir
        .hash_password(Secret::from(f.password), Scheme::Argon2id)
        .await
        .map_err(|e| bad(&e.to_string()))?;
    app.dir.add_user(&addr, &hash, quota, f.name.trim()).await.map_err(refused)?;
    record(&app, &req, &a, dom.as_str(), "create_mailbox", &addr.to_string()).await;
    page::done(&format!("/admin/domains/{dom}"), "mailbox-added")
}

/// One mailbox: quota, active flag, password reset, delete.
pub async fn mailbox(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Query(d): Query<Done>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let addr = managed_address(&a, &raw)?;
    let u = app.dir.show_user(&addr).await.map_err(refused)?;
    let u = u.ok_or_else(|| page::error(StatusCode::NOT_FOUND, "No such mailbox."))?;
    let base = format!("/admin/mailboxes/{addr}");
    let body = html! {
        p { "Name: " (u.name) ". Maildir: " (u.maildir) ". Password scheme: " (u.scheme) "." }
        p { a href=(format!("/admin/domains/{}", addr.domain())) { "Back to " (addr.domain()) } }
        h2 { "Settings" }
        form method="post" action=(base) {
            (csrf(&s))
            label { "Quota in MB (0 none) " input type="number" name="quota" value=(u.quota / QUOTA_MULTIPLIER) min="0"; }
            label { input type="checkbox" name="active" value="1" checked[u.active]; " Active" }
            button type="submit" { "Save" }
        }
        h2 { "Reset password" }
        form method="post" action=(format!("{base}/password")) {
            (csrf(&s))
            label { "New password " input type="password" name="password" autocomplete="new-password" required minlength="8"; }
            label { "New password again " input type="password" name="again" autocomplete="new-password" required minlength="8"; }
            button type="submit" { "Reset password" }
        }
        h2 { "Delete" }
        form method="post" action=(format!("{base}/delete")) {
            (csrf(&s))
            p { "The mailbox's messages stay on disk." }
            button type="submit" { "Delete " (addr) }
        }
    };
    Ok(page::ok(page::layout(&addr.to_string(), Some(&s), Some(a.superadmin), d.notice(), body)))
}

#[derive(Deserialize)]
pub struct MailboxEdit {
    #[serde(default)]
    quota: i64,
    active: Option<String>,
}

/// Change a mailbox's quota and active flag.
pub async fn edit_mailbox(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Form(f): Form<MailboxEdit>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let addr = managed_address(&a, &raw)?;
    let settings = settings_of(&app, addr.domain(), "No such mailbox.").await?;
    let quota = allowed_quota(&settings, f.quota)?;
    let active = f.active.is_some();
    app.dir.set_user_quota(&addr, quota).await.map_err(refused)?;
    app.dir.set_user_active(&addr, active).await.map_err(refused)?;
    if !active {
        app.sessions.remove_all(&Who::User(addr.to_string()));
    }
    let data = format!("{addr} quota={}MB active={}", f.quota, yes(active));
    record(&app, &req, &a, addr.domain().as_str(), "edit_mailbox", &data).await;
    page::done(&format!("/admin/mailboxes/{addr}"), "mailbox-saved")
}

#[derive(Deserialize)]
pub struct ResetForm {
    password: String,
    again: String,
}

/// Reset a mailbox's password; the user's sessions end.
pub async fn reset_password(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Form(f): Form<ResetForm>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let addr = managed_address(&a, &raw)?;
    if let Some(p) = new_password_problem(&f.password, &f.again) {
        return Err(bad(p));
    }
    let hash = app
        .dir
        .hash_password(Secret::from(f.password), Scheme::Argon2id)
        .await
        .map_err(|e| bad(&e.to_string()))?;
    app.dir.set_password(&addr, &hash).await.map_err(refused)?;
    app.sessions.remove_all(&Who::User(addr.to_string()));
    record(&app, &req, &a, addr.domain().as_str(), "edit_password", &addr.to_string()).await;
    page::done(&format!("/admin/mailboxes/{addr}"), "mailbox-password")
}

/// Delete a mailbox (its files stay).
pub async fn delete_mailbox(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let addr = managed_address(&a, &raw)?;
    app.dir.del_user(&addr).await.map_err(refused)?;
    app.sessions.remove_all(&Who::User(addr.to_string()));
    record(&app, &req, &a, addr.domain().as_str(), "delete_mailbox", &addr.to_string()).await;
    page::done(&format!("/admin/domains/{}", addr.domain()), "mailbox-deleted")
}

#[derive(Deserialize)]
pub struct AliasForm {
    #[serde(default)]
    local_part: String,
    goto: String,
}

/// Add an alias or (empty local part) the catch-all, within the domain's alias limit.
pub async fn add_alias(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Form(f): Form<AliasForm>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let dom = managed_domain(&a, &raw)?;
    let local = f.local_part.trim();
    let address = if local.is_empty() { format!("@{dom}") } else { format!("{local}@{dom}") };
    if !local.is_empty() && Address::parse(&address).is_err() {
        return Err(bad("That is not a valid address."));
    }
    let targets = list_of(&f.goto, Address::parse, "A target is not a valid address.")?;
    let settings = settings_of(&app, &dom, "No such domain.").await?;
    room_for(
        &app,
        &dom,
        |u| limit_allows(settings.aliases, u.aliases),
        "This domain has all the aliases it may have.",
    )
    .await?;
    app.dir.add_alias(&address, &targets).await.map_err(refused)?;
    let goto: Vec<String> = targets.iter().map(ToString::to_string).collect();
    record(&app, &req, &a, dom.as_str(), "create_alias", &format!("{address} -> {}", goto.join(","))).await;
    page::done(&format!("/admin/domains/{dom}"), "alias-added")
}

/// Delete an alias (not a mailbox's own row).
pub async fn delete_alias(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let domain = raw.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let dom = managed_domain(&a, domain)?;
    app.dir.del_alias(&raw).await.map_err(refused)?;
    record(&app, &req, &a, dom.as_str(), "delete_alias", &raw).await;
    page::done(&format!("/admin/domains/{dom}"), "alias-deleted")
}

/// `/admin/admins` (superadmins): every admin, and the form to add one.
pub async fn admins(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(d): Query<Done>,
) -> Page {
    let (s, _) = superadmin(&app, &req).await?;
    let list = app.dir.list_admins().await.map_err(refused)?;
    let body = html! {
        table {
            thead { tr { th { "Admin" } th { "Superadmin" } th { "Domains" } th { "Active" } th {} } }
            tbody {
                @for ad in &list {
                    tr {
                        td { (ad.username) }
                        td { (yes(ad.superadmin)) }
                        td { (ad.domains.join(", ")) }
                        td { (yes(ad.active)) }
                        td {
                            @if ad.username != s.who.name() {
                                form.inline method="post" action=(format!("/admin/admins/{}/delete", ad.username)) {
                                    (csrf(&s))
                                    button type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add an admin" }
        form method="post" action="/admin/admins" {
            (csrf(&s))
            label { "Login (an address) " input type="text" name="username" required; }
            label { "Password " input type="password" name="password" autocomplete="new-password" required minlength="8"; }
            label { "Password again " input type="password" name="again" autocomplete="new-password" required minlength="8"; }
            label { "Domains (comma-separated) " input type="text" name="domains"; }
            label { input type="checkbox" name="superadmin" value="1"; " Superadmin (every domain)" }
            button type="submit" { "Add admin" }
        }
    };
    Ok(page::ok(page::layout("Admins", Some(&s), Some(true), d.notice(), body)))
}

#[derive(Deserialize)]
pub struct AdminForm {
    username: String,
    password: String,
    again: String,
    #[serde(default)]
    domains: String,
    superadmin: Option<String>,
}

/// Add an admin (superadmins).
pub async fn add_admin(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<AdminForm>,
) -> Page {
    let (_, a) = superadmin(&app, &req).await?;
    let Ok(name) = Address::parse(f.username.trim()) else {
        return Err(bad("The login must be an address."));
    };
    if let Some(p) = new_password_problem(&f.password, &f.again) {
        return Err(bad(p));
    }
    let domains = list_of(&f.domains, Domain::parse, "A domain is not a valid domain name.")?;
    let superadmin = f.superadmin.is_some();
    if !superadmin && domains.is_empty() {
        return Err(bad("An admin who is not a superadmin needs at least one domain."));
    }
    let hash = app
        .dir
        .hash_password(Secret::from(f.password), Scheme::Argon2id)
        .await
        .map_err(|e| bad(&e.to_string()))?;
    app.dir.add_admin(&name, &hash, superadmin, &domains).await.map_err(refused)?;
    let ds: Vec<&str> = domains.iter().map(Domain::as_str).collect();
    let data = format!("{name} superadmin={} domains={}", yes(superadmin), ds.join(","));
    record(&app, &req, &a, ds.first().copied().unwrap_or(""), "create_admin", &data).await;
    page::done("/admin/admins", "admin-added")
}

/// Delete an admin (superadmins; not oneself); its sessions end.
pub async fn delete_admin(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(username): Path<String>,
) -> Page {
    let (s, a) = superadmin(&app, &req).await?;
    if username.eq_ignore_ascii_case(s.who.name()) {
        return Err(bad("You cannot delete yourself."));
    }
    app.dir.del_admin(&username).await.map_err(refused)?;
    app.sessions.remove_all(&Who::Admin(username.clone()));
    record(&app, &req, &a, "", "delete_admin", &username).await;
    page::done("/admin/admins", "admin-deleted")
}

#[derive(Deserialize)]
pub struct OwnPassword {
    current: String,
    new: String,
    again: String,
}

/// An admin changes their own password (the current one required); their sessions end, this
/// one continues under a new id.
pub async fn change_own_password(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<OwnPassword>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    if let Some(p) = new_password_problem(&f.new, &f.again) {
        return Err(bad(p));
    }
    match app.dir.admin_login(&a.username, &Secret::from(f.current)).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => {
            let delay = app.throttle.failure(&[a.username.as_str(), req.client.as_str()]);
            tracing::info!("authentication failed user={} service=web client={}", a.username, req.client);
            tokio::time::sleep(delay).await;
            return Err(page::error(StatusCode::FORBIDDEN, "The current password is wrong."));
        }
        Err(e) => return Err(page::unavailable(&e.to_string())),
    }
    let hash = app
        .dir
        .hash_password(Secret::from(f.new), Scheme::Argon2id)
        .await
        .map_err(|e| bad(&e.to_string()))?;
    app.dir.set_admin_password(&a.username, &hash).await.map_err(refused)?;
    record(&app, &req, &a, "", "edit_admin_password", &a.username).await;
    app.sessions.remove_all(&s.who);
    let id = app.sessions.create(s.who.clone());
    let mut r = page::done("/admin", "password")?;
    r.headers_mut().insert(axum::http::header::SET_COOKIE, app.session_cookie(Some(&id)));
    Ok(r)
}

/// postfixadmin's "View Log": the newest changes in this admin's domains.
pub async fn log_page(State(app): State<Arc<App>>, Extension(req): Extension<Req>) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let domains = (!a.superadmin).then_some(a.domains.as_slice());
    let rows = app.dir.log_rows(domains, 200).await.map_err(refused)?;
    let body = html! {
        table {
            thead { tr { th { "When" } th { "Who" } th { "Domain" } th { "Action" } th { "Data" } } }
            tbody {
                @for r in &rows {
                    tr { @for c in r { td { (c) } } }
                }
            }
        }
    };
    Ok(page::ok(page::layout("Log", Some(&s), Some(a.superadmin), None, body)))
}
