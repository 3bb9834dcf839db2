//! postfixadmin's "Alias domains": mail to `user@alias` goes to `user@target`. Both sides are
//! domains of ours; a domain admin sees and changes only mappings whose two sides are both
//! theirs. Every change goes to postfixadmin's `log` with its action names.

use std::sync::Arc;

use authlib::{AdminInfo, AliasDomainInfo};
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use proto::Domain;
use serde::Deserialize;

use crate::admin::{admin, csrf, managed_domain, record, refused};
use crate::app::{App, Req};
use crate::login::Done;
use crate::page::{self, Page};
use crate::session::Current;

fn visible(a: &AdminInfo, rows: Vec<AliasDomainInfo>) -> Vec<AliasDomainInfo> {
    rows.into_iter().filter(|r| a.manages(&r.alias_domain) && a.manages(&r.target_domain)).collect()
}

/// The alias domains `a` sees, of one domain (either side) or all.
pub async fn visible_alias_domains(
    app: &App,
    a: &AdminInfo,
    domain: Option<&Domain>,
) -> Result<Vec<AliasDomainInfo>, Response> {
    Ok(visible(a, app.dir.list_alias_domains(domain).await.map_err(refused)?))
}

/// The table of alias domains with their switches, and the form to add one (to `target`
/// only, from a domain's page).
pub fn section(s: &Current, rows: &[AliasDomainInfo], target: Option<&Domain>) -> Markup {
    html! {
        table {
            thead { tr { th { "Alias domain" } th { "Goes to" } th { "Active" } th {} } }
            tbody {
                @for r in rows {
                    tr {
                        td { a href=(format!("/admin/domains/{}", r.alias_domain)) { (r.alias_domain) } }
                        td { a href=(format!("/admin/domains/{}", r.target_domain)) { (r.target_domain) } }
                        td { @if r.active { "yes" } @else { "no" } }
                        td {
                            form.inline method="post" action=(format!("/admin/aliasdomains/{}", r.alias_domain)) {
                                (csrf(s))
                                @if !r.active { input type="hidden" name="active" value="1"; }
                                button type="submit" { @if r.active { "Deactivate" } @else { "Activate" } }
                            }
                            " "
                            form.inline method="post" action=(format!("/admin/aliasdomains/{}/delete", r.alias_domain)) {
                                (csrf(s))
                                button type="submit" { "Delete" }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Add an alias domain" }
        form method="post" action="/admin/aliasdomains" {
            (csrf(s))
            p { "Mail to any address of the alias domain goes to the same address in the target domain. \
                 The alias domain must already be a domain here, without alias domains of its own." }
            label { "Alias domain " input type="text" name="alias_domain" required; }
            @match target {
                Some(t) => { input type="hidden" name="target_domain" value=(t); p { "Target domain: " (t) } },
                None => { label { "Target domain " input type="text" name="target_domain" required; } },
            }
            button type="submit" { "Add alias domain" }
        }
    }
}

/// `/admin/aliasdomains`: every alias domain this admin sees.
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(d): Query<Done>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let rows = visible_alias_domains(&app, &a, None).await?;
    let body = section(&s, &rows, None);
    Ok(page::ok(page::layout("Alias domains", Some(&s), Some(a.superadmin), d.notice(), body)))
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    alias_domain: String,
    #[serde(default)]
    target_domain: String,
}

/// A domain from a form: 400 when it is not a domain name, 403 when it is not this admin's.
fn form_domain(a: &AdminInfo, raw: &str) -> Result<Domain, Response> {
    let d = Domain::parse(raw.trim())
        .map_err(|_| page::error(StatusCode::BAD_REQUEST, "That is not a domain name."))?;
    if !a.manages(d.as_str()) {
        return Err(page::forbidden());
    }
    Ok(d)
}

/// Add an alias domain; both domains must be this admin's.
pub async fn add(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Form(f): Form<AddForm>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let alias = form_domain(&a, &f.alias_domain)?;
    let target = form_domain(&a, &f.target_domain)?;
    app.dir.add_alias_domain(&alias, &target).await.map_err(refused)?;
    record(&app, &req, &a, alias.as_str(), "create_alias_domain", &format!("{alias} -> {target}")).await;
    page::done("/admin/aliasdomains", "aliasdomain-added")
}

/// The alias domain of the URL when both its sides are this admin's (403 before anything
/// about a domain that is not theirs is told; a missing mapping is a refusal).
async fn managed_alias_domain(
    app: &App,
    a: &AdminInfo,
    raw: &str,
) -> Result<(Domain, AliasDomainInfo), Response> {
    let alias = managed_domain(a, raw)?;
    let Some(row) = app.dir.alias_domain(&alias).await.map_err(refused)? else {
        return Err(page::error(StatusCode::CONFLICT, &format!("no such alias domain {alias}")));
    };
    if !a.manages(&row.target_domain) {
        return Err(page::forbidden());
    }
    Ok((alias, row))
}

#[derive(Deserialize)]
pub struct ActiveForm {
    active: Option<String>,
}

/// Activate or deactivate an alias domain.
pub async fn set_active(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Form(f): Form<ActiveForm>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let (alias, row) = managed_alias_domain(&app, &a, &raw).await?;
    let active = f.active.is_some();
    app.dir.set_alias_domain_active(&alias, active).await.map_err(refused)?;
    let data = format!("{alias} -> {} active={}", row.target_domain, if active { "yes" } else { "no" });
    record(&app, &req, &a, alias.as_str(), "edit_alias_domain", &data).await;
    page::done("/admin/aliasdomains", "aliasdomain-saved")
}

/// Delete an alias domain's mapping (the domain itself stays).
pub async fn delete(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let (alias, row) = managed_alias_domain(&app, &a, &raw).await?;
    app.dir.del_alias_domain(&alias).await.map_err(refused)?;
    record(
        &app,
        &req,
        &a,
        alias.as_str(),
        "delete_alias_domain",
        &format!("{alias} -> {}", row.target_domain),
    )
    .await;
    page::done("/admin/aliasdomains", "aliasdomain-deleted")
}
