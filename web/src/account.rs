//! A mailbox user's own pages: quota use, forwarding and password on `/account`; the
//! out-of-office reply and the filter rules, both kept in the one script of [`crate::script`]
//! in the user's Pigeonhole script store (the store ManageSieve and delivery use).
//!
//! A user who already has another active script (uploaded with ManageSieve) keeps it: when
//! our script becomes the active one, theirs is included at its end (`include :personal
//! :optional`), and the pages say so and let them turn that off. It is never deleted.

use std::sync::Arc;

use authlib::Mailbox;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mailstore::sieve_scripts::{self, ScriptError, SieveScripts};
use maud::{Markup, html};
use proto::Address;
use serde::Deserialize;

use crate::admin::{list_of, refused};
use crate::app::{App, Req, to_login};
use crate::login::Done;
use crate::page::{self, Page};
use crate::script::{self, Act, Field, Filter, Match, Rules, Vacation};
use crate::session::{Current, Who};

/// The session's mailbox, or the answer for everyone else: the login form for visitors, 403
/// for admins.
async fn user(app: &App, req: &Req) -> Result<(Current, Mailbox), Response> {
    let Some(s) = req.session.clone() else { return Err(to_login()) };
    let Who::User(name) = &s.who else { return Err(page::forbidden()) };
    let Ok(addr) = Address::parse(name) else { return Err(page::forbidden()) };
    match app.dir.mailbox(&addr).await {
        Ok(Some(m)) => Ok((s, m)),
        // Deleted or deactivated since the login.
        Ok(None) => Err(to_login()),
        Err(e) => Err(page::unavailable(&e.to_string())),
    }
}

fn csrf(s: &Current) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

fn bad(msg: &str) -> Response {
    page::error(StatusCode::BAD_REQUEST, msg)
}

/// The script store failed: temporary, try again.
fn store_failed(e: &std::io::Error) -> Response {
    tracing::error!(error = %e, "sieve script store");
    page::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Your settings cannot be read or written now. Try again in a moment.",
    )
}

/// The user's script store and what it holds now.
struct Store {
    scripts: SieveScripts,
    /// What our script holds (defaults when there is none yet).
    rules: Rules,
    /// Another script that is active now (a regular `.dovecot.sieve` counts as the script it
    /// becomes when ours is activated), or the one ours already includes.
    other: Option<String>,
    /// Whether `other` runs now.
    other_runs: bool,
}

fn open(mailbox: &Mailbox) -> std::io::Result<Store> {
    let scripts = SieveScripts::new(sieve_scripts::home(&mailbox.maildir));
    let rules = match scripts.get(script::NAME) {
        Ok(src) => Rules::parse(&src),
        Err(ScriptError::NotFound) => Rules::default(),
        Err(ScriptError::Io(e)) => return Err(e),
        Err(e) => return Err(std::io::Error::other(e)),
    };
    let active = scripts.active()?;
    let ours = active.as_deref() == Some(script::NAME);
    let other = match active {
        Some(a) if a != script::NAME => Some(a),
        None if scripts.active_source().is_some() => Some(sieve_scripts::ORIGINAL.to_string()),
        _ => None,
    };
    let other_runs = other.is_some() || (ours && rules.include.is_some());
    let other = other.or_else(|| rules.include.clone());
    Ok(Store { scripts, rules, other, other_runs })
}

async fn load(mailbox: &Mailbox) -> Result<Store, Response> {
    let m = mailbox.clone();
    match tokio::task::spawn_blocking(move || open(&m)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(store_failed(&e)),
        Err(e) => Err(store_failed(&std::io::Error::other(e))),
    }
}

/// Check the script with the Sieve compiler delivery uses, then write and activate it.
async fn save(store: Store, mut rules: Rules, include: bool) -> Result<(), Response> {
    rules.include = if include { store.other.clone() } else { None };
    let src = rules.render();
    if let Err(e) = sieve::compile(&src) {
        tracing::error!(error = %e, "generated sieve script does not compile");
        return Err(bad(&format!("These settings do not make a valid filter: {e}")));
    }
    let scripts = store.scripts;
    let write = move || -> Result<(), ScriptError> {
        scripts.put(script::NAME, &src)?;
        scripts.activate(script::NAME)
    };
    match tokio::task::spawn_blocking(write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(ScriptError::Io(e))) => Err(store_failed(&e)),
        Ok(Err(e)) => Err(store_failed(&std::io::Error::other(e))),
        Err(e) => Err(store_failed(&std::io::Error::other(e))),
    }
}

/// The checkbox that keeps the user's own script running, when there is one.
fn include_box(store: &Store) -> Markup {
    html! {
        @if let Some(o) = &store.other {
            p.notice {
                "You have your own filter script " strong { (o) } ", written with a mail program. "
                @if store.other_runs { "It runs now." } @else { "It does not run now." }
                " Saving here makes the settings of this page active; your script is kept."
            }
            label { input type="checkbox" name="include" value="1" checked[store.other_runs];
                " Also run " (o) " after these settings" }
        }
    }
}

async fn record(app: &App, req: &Req, mailbox: &Mailbox, action: &str, data: &str) {
    let who = format!("{} ({})", mailbox.address, req.client);
    if let Err(e) = app.dir.log_change(&who, mailbox.address.domain().as_str(), action, data).await {
        tracing::error!(error = %e, action, "could not write the change log");
    }
    tracing::info!(user = %mailbox.address, client = %req.client, action, "change");
}

fn quota_line(mailbox: &Mailbox) -> String {
    let md = mailstore::Maildir::new(&mailbox.maildir);
    let limit = mailstore::Quota { bytes: mailbox.quota, messages: 0 };
    let used =
        if mailbox.maildir.is_dir() { mailstore::quota::usage(&md, limit) } else { Ok(Default::default()) };
    let mb = |b: u64| format!("{:.1} MB", b as f64 / 1_048_576.0);
    match used {
        Err(e) => {
            tracing::warn!(error = %e, maildir = %mailbox.maildir.display(), "quota usage");
            "Your mailbox's size cannot be read now.".into()
        }
        Ok(u) if mailbox.quota == 0 => format!("{} in {} messages; no limit.", mb(u.bytes), u.messages),
        Ok(u) => format!(
            "{} of {} used ({}%) in {} messages.",
            mb(u.bytes),
            mb(mailbox.quota),
            u.bytes.saturating_mul(100) / mailbox.quota,
            u.messages
        ),
    }
}

/// `/account`: quota use, forwarding, password, and the links to the reply and filters.
pub async fn account(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(done): Query<Done>,
) -> Page {
    let (s, m) = user(&app, &req).await?;
    let goto = app.dir.forwarding(&m.address).await.map_err(refused)?;
    let me = m.address.to_string();
    let keep = goto.is_empty() || goto.iter().any(|g| g.eq_ignore_ascii_case(&me));
    let targets: Vec<&str> =
        goto.iter().map(String::as_str).filter(|g| !g.eq_ignore_ascii_case(&me)).collect();
    let m2 = m.clone();
    let quota = tokio::task::spawn_blocking(move || quota_line(&m2)).await.unwrap_or_default();
    let body = html! {
        p { "Logged in as " strong { (me) } "." }
        h2 { "Mailbox size" }
        p.quota { (quota) }
        h2 { "Out of office and filters" }
        p { a href="/account/vacation" { "Out-of-office reply" } " · " a href="/account/filters" { "Filter rules" } }
        h2 { "Mail apps" }
        p { "Thunderbird and Outlook find the settings themselves from your address. For an iPhone, iPad or Mac: "
            a href={ "/apple/mobileconfig?emailaddress=" (me) } { "download the configuration profile" } "." }
        h2 { "Forwarding" }
        p { @if targets.is_empty() { "Your mail is not forwarded." }
            @else { "Your mail is forwarded to " (targets.join(", ")) @if keep { ", and a copy is kept here." } @else { "; no copy is kept here." } } }
        form method="post" action="/account/forwarding" {
            (csrf(&s))
            label { "Forward to (addresses, comma-separated; empty: no forwarding) "
                input type="text" name="goto" value=(targets.join(", ")); }
            label { input type="checkbox" name="keep" value="1" checked[keep]; " Keep a copy in this mailbox" }
            button type="submit" { "Save forwarding" }
        }
        h2 { "Change password" }
        form method="post" action="/account/password" {
            (csrf(&s))
            label { "Current password " input type="password" name="current" autocomplete="current-password" required; }
            label { "New password " input type="password" name="new" autocomplete="new-password" required minlength="8"; }
            label { "New password again " input type="password" name="again" autocomplete="new-password" required minlength="8"; }
            button type="submit" { "Change password" }
        }
    };
    Ok(page::ok(page::layout("My account", Some(&s), None, done.notice(), body)))
}

/// Most forwarding targets.
const MAX_FORWARDS: usize = 10;

#[derive(Deserialize)]
pub struct ForwardForm {
    #[serde(default)]
    goto: String,
    keep: Option<String>,
}

/// Forward the user's mail (postfixadmin's way: the targets in their own alias row).
pub async fn forwarding(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<ForwardForm>,
) -> Page {
    let (_, m) = user(&app, &req).await?;
    let targets = list_of(&f.goto, Address::parse, "A forwarding target is not a valid address.")?;
    if targets.len() > MAX_FORWARDS {
        return Err(bad("At most 10 forwarding addresses."));
    }
    let keep = f.keep.is_some();
    app.dir.set_forwarding(&m.address, &targets, keep).await.map_err(refused)?;
    let list: Vec<String> = targets.iter().map(ToString::to_string).collect();
    let data = format!("{} -> {} keep={}", m.address, list.join(","), if keep { "yes" } else { "no" });
    record(&app, &req, &m, "edit_alias", &data).await;
    page::done("/account", "forwarding")
}

/// `/account/vacation`: the out-of-office form.
pub async fn vacation(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(done): Query<Done>,
) -> Page {
    let (s, m) = user(&app, &req).await?;
    let store = load(&m).await?;
    let v = &store.rules.vacation;
    let body = html! {
        p { "While it is on, whoever writes to you gets this reply, once in the number of days set below. "
            "Mailing lists and automatic messages get none." }
        form method="post" action="/account/vacation" {
            (csrf(&s))
            label { input type="checkbox" name="on" value="1" checked[v.on]; " Out-of-office reply on" }
            label { "Subject " input type="text" name="subject" value=(v.subject) maxlength="200"; }
            label { "Text " br; textarea name="reason" rows="8" cols="60" { (v.body) } }
            label { "Reply to the same sender once in " input type="number" name="days" value=(v.days) min="1" max="365"; " days" }
            label { "First day (optional) " input type="date" name="start" value=(v.start.as_deref().unwrap_or("")); }
            label { "Last day (optional) " input type="date" name="end" value=(v.end.as_deref().unwrap_or("")); }
            (include_box(&store))
            button type="submit" { "Save" }
        }
    };
    Ok(page::ok(page::layout("Out-of-office reply", Some(&s), None, done.notice(), body)))
}

#[derive(Deserialize)]
pub struct VacationForm {
    on: Option<String>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    include: Option<String>,
}

/// Save the out-of-office reply.
pub async fn save_vacation(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<VacationForm>,
) -> Page {
    let (_, m) = user(&app, &req).await?;
    let Ok(days) = f.days.trim().parse::<u32>() else {
        return Err(bad("The days between replies must be 1 to 365."));
    };
    let v = Vacation {
        on: f.on.is_some(),
        subject: f.subject,
        body: f.reason,
        days,
        start: Some(f.start),
        end: Some(f.end),
    };
    let v = v.check().map_err(|m| bad(&m))?;
    let store = load(&m).await?;
    let on = v.on;
    let rules = Rules { vacation: v, ..store.rules.clone() };
    save(store, rules, f.include.is_some()).await?;
    record(&app, &req, &m, "edit_vacation", if on { "on" } else { "off" }).await;
    page::done("/account/vacation", "vacation")
}

fn field_name(f: Field) -> &'static str {
    match f {
        Field::From => "From",
        Field::To => "To or Cc",
        Field::Subject => "Subject",
    }
}

/// The fields of one rule, filled with `r` when editing.
fn rule_fields(r: Option<&Filter>) -> Markup {
    let field = r.map(|r| r.field);
    let op = r.map(|r| r.op);
    let action = r.map(|r| r.action);
    html! {
        select name="field" {
            @for f in [Field::From, Field::To, Field::Subject] {
                option value=(script::name_of(&f)) selected[field == Some(f)] { (field_name(f)) }
            }
        }
        " "
        select name="op" {
            option value="contains" selected[op == Some(Match::Contains)] { "contains" }
            option value="is" selected[op == Some(Match::Is)] { "is" }
        }
        " "
        input type="text" name="value" required maxlength="200" value=(r.map_or("", |r| r.value.as_str()));
        " → "
        select name="action" {
            option value="fileinto" selected[action == Some(Act::Fileinto)] { "move to folder" }
            option value="seen" selected[action == Some(Act::Seen)] { "mark as read" }
            option value="redirect" selected[action == Some(Act::Redirect)] { "forward to" }
            option value="discard" selected[action == Some(Act::Discard)] { "delete" }
        }
        " "
        input type="text" name="arg" maxlength="200" placeholder="folder or address" value=(r.map_or("", |r| r.arg.as_str()));
    }
}

/// `/account/filters`: the rules, each editable, and a form for a new one.
pub async fn filters(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(done): Query<Done>,
) -> Page {
    let (s, m) = user(&app, &req).await?;
    let store = load(&m).await?;
    let body = html! {
        p { "Each new message is checked against these rules in order; every rule that matches acts. "
            "Deleted messages get no out-of-office reply." }
        @if store.rules.filters.is_empty() { p { "No rules yet." } }
        @for (i, r) in store.rules.filters.iter().enumerate() {
            form.rule method="post" action=(format!("/account/filters/{i}")) {
                (csrf(&s))
                (rule_fields(Some(r)))
                " " button type="submit" name="delete" value="" { "Save" }
                " " button type="submit" name="delete" value="1" { "Delete" }
            }
        }
        h2 { "Add a rule" }
        form method="post" action="/account/filters" {
            (csrf(&s))
            (rule_fields(None))
            (include_box(&store))
            button type="submit" { "Add rule" }
        }
    };
    Ok(page::ok(page::layout("Filter rules", Some(&s), None, done.notice(), body)))
}

#[derive(Deserialize)]
pub struct FilterForm {
    #[serde(default)]
    field: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    arg: String,
    #[serde(default)]
    delete: String,
    include: Option<String>,
}

impl FilterForm {
    fn rule(&self) -> Result<Filter, String> {
        let (Some(field), Some(op), Some(action)) =
            (script::variant(&self.field), script::variant(&self.op), script::variant(&self.action))
        else {
            return Err("Choose a field, a comparison and an action from the lists.".into());
        };
        Filter { field, op, value: self.value.clone(), action, arg: self.arg.clone() }.check()
    }
}

/// Add a rule at the end.
pub async fn add_filter(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<FilterForm>,
) -> Page {
    change_filters(&app, &req, &f, None).await
}

/// Change or (`delete` set) remove rule `n`.
pub async fn edit_filter(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(n): Path<usize>,
    Form(f): Form<FilterForm>,
) -> Page {
    change_filters(&app, &req, &f, Some(n)).await
}

async fn change_filters(app: &App, req: &Req, f: &FilterForm, at: Option<usize>) -> Page {
    let (_, m) = user(app, req).await?;
    let store = load(&m).await?;
    let mut rules = store.rules.clone();
    // Editing keeps whatever runs now; adding follows the checkbox.
    let include = if at.is_some() { store.other_runs } else { f.include.is_some() };
    let action = match at {
        Some(n) if n >= rules.filters.len() => {
            return Err(page::error(StatusCode::NOT_FOUND, "There is no such rule."));
        }
        Some(n) if !f.delete.is_empty() => {
            rules.filters.remove(n);
            "delete_filter"
        }
        _ => {
            let rule = f.rule().map_err(|m| bad(&m))?;
            match at {
                Some(n) => {
                    rules.filters[n] = rule;
                    "edit_filter"
                }
                None if rules.filters.len() >= script::MAX_FILTERS => {
                    return Err(bad("You have all the rules you may have."));
                }
                None => {
                    rules.filters.push(rule);
                    "create_filter"
                }
            }
        }
    };
    save(store, rules, include).await?;
    record(app, req, &m, action, "").await;
    page::done("/account/filters", "filters")
}
