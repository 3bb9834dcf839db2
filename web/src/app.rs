//! The application: its state, the routes, and the guard every request passes (client address,
//! session, form token, security headers).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authlib::{AdminInfo, Directory};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use ipnet::IpNet;
use saslauthd::throttle::Throttle;

use crate::page;
use crate::session::{Current, Sessions, Who, same};

/// Largest form body read.
const MAX_FORM: usize = 64 * 1024;

/// What the connection knows: the peer's address and whether it is TLS.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The TCP peer (None on a Unix socket).
    pub peer: Option<IpAddr>,
    /// The connection is TLS.
    pub tls: bool,
}

/// The request as the guard resolved it.
#[derive(Debug, Clone)]
pub struct Req {
    /// The client's address (from a trusted proxy's X-Forwarded-For when there is one).
    pub client: String,
    /// The session, if the cookie names a live one.
    pub session: Option<Current>,
    /// The form token of a visitor without a session (the login form's cookie).
    pub login_csrf: Option<String>,
}

/// Settings and shared state of the daemon.
pub struct App {
    pub dir: Directory,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub cookie: String,
    pub trusted: Vec<IpNet>,
    pub discovery: crate::discovery::Settings,
    pub queue: crate::queue::Queue,
    pub dns: crate::dns::Dns,
    /// Rows per page of the admin lists.
    pub page_size: i64,
}

impl App {
    /// From the configuration; an error names the bad key.
    pub fn new(cfg: &config::Config, dir: Directory) -> Result<App, String> {
        let w = &cfg.web;
        let mut trusted = Vec::new();
        for p in &w.trusted_proxies {
            let net = p
                .parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("[web] trusted_proxies: {p:?} is not an address or CIDR block"))?;
            trusted.push(net);
        }
        if w.cookie_name.is_empty() || !w.cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!("[web] cookie_name: {:?} must be letters, digits and _", w.cookie_name));
        }
        Ok(App {
            dir,
            sessions: Sessions::new(
                Duration::from_secs(w.session_idle_timeout.get()),
                Duration::from_secs(w.session_max_lifetime.get()),
            ),
            throttle: Throttle::new(
                Duration::from_millis(w.throttle_base_ms),
                Duration::from_millis(w.throttle_max_ms),
                Duration::from_secs(w.throttle_window.get()),
            ),
            cookie: w.cookie_name.clone(),
            page_size: i64::try_from(w.page_size.get()).unwrap_or(i64::MAX),
            trusted,
            discovery: crate::discovery::Settings::new(cfg),
            dns: crate::dns::Dns {
                resolver: mailroom_mta::qmgr::mx::Dns::new(
                    &cfg.mta.dns_servers,
                    cfg.mta.dnssec_trust_anchor_file.as_str(),
                )
                .map_err(|e| format!("[mta] {e}"))?,
                dkim: cfg.mta.dkim.clone(),
            },
            queue: crate::queue::Queue {
                spool_dir: PathBuf::from(&cfg.mta.spool_dir),
                control: (&cfg.mta.control_socket).into(),
            },
        })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client address and whether the client's own connection is HTTPS: the peer's, or,
    /// from a trusted proxy, the right-most untrusted address of X-Forwarded-For and its
    /// X-Forwarded-Proto.
    fn client(&self, conn: ConnInfo, headers: &HeaderMap) -> (String, bool) {
        let Some(peer) = conn.peer else { return ("local".into(), conn.tls) };
        if !self.trusts(peer) {
            return (peer.to_string(), conn.tls);
        }
        let mut client = peer;
        let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).map(str::trim).collect();
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let https = match headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) {
            Some(p) => p.trim().eq_ignore_ascii_case("https"),
            None => conn.tls,
        };
        (client.to_string(), https)
    }

    /// The `Set-Cookie` value for the session id (`None`: clear it).
    pub fn session_cookie(&self, id: Option<&str>) -> HeaderValue {
        cookie(&self.cookie, id)
    }

    /// The `Set-Cookie` value of the login form's token.
    pub fn login_cookie(&self, token: Option<&str>) -> HeaderValue {
        cookie(&format!("{}_login", self.cookie), token)
    }

    /// The session's admin with its current rights, if the session is an admin's that is
    /// still active.
    pub async fn admin_of(&self, cur: &Current) -> Result<Option<AdminInfo>, Response> {
        let Who::Admin(name) = &cur.who else { return Ok(None) };
        match self.dir.admin(name).await {
            Ok(Some(a)) if a.active => Ok(Some(a)),
            Ok(_) => Ok(None),
            Err(e) => Err(page::unavailable(&e.to_string())),
        }
    }
}

fn cookie(name: &str, value: Option<&str>) -> HeaderValue {
    let v = match value {
        Some(v) => format!("{name}={v}; Path=/; Secure; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"),
    };
    HeaderValue::from_str(&v).expect("cookie names and tokens are ASCII")
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Every route. Pages that need a login check it themselves (see [`crate::admin`]).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(crate::login::home))
        .route("/login", get(crate::login::form).post(crate::login::submit))
        .route("/logout", post(crate::login::logout))
        .route("/account", get(crate::account::account))
        .route("/account/password", post(crate::login::change_password))
        .route("/account/forwarding", post(crate::account::forwarding))
        .route("/account/vacation", get(crate::account::vacation).post(crate::account::save_vacation))
        .route("/account/filters", get(crate::account::filters).post(crate::account::add_filter))
        .route("/account/filters/{n}", post(crate::account::edit_filter))
        .route("/admin", get(crate::admin::dashboard))
        .route("/admin/domains", get(crate::admin::domains).post(crate::admin::add_domain))
        .route("/admin/domains/{domain}", get(crate::admin::domain).post(crate::admin::edit_domain))
        .route("/admin/domains/{domain}/delete", post(crate::admin::delete_domain))
        .route("/admin/domains/{domain}/mailboxes", post(crate::admin::add_mailbox))
        .route("/admin/domains/{domain}/aliases", post(crate::admin::add_alias))
        .route("/admin/domains/{domain}/dns", get(crate::dns::page))
        .route("/admin/mailboxes/{address}", get(crate::admin::mailbox).post(crate::admin::edit_mailbox))
        .route("/admin/mailboxes/{address}/password", post(crate::admin::reset_password))
        .route("/admin/mailboxes/{address}/delete", post(crate::admin::delete_mailbox))
        .route("/admin/aliases/{address}/delete", post(crate::admin::delete_alias))
        .route("/admin/aliasdomains", get(crate::alias_domain::list).post(crate::alias_domain::add))
        .route("/admin/aliasdomains/{domain}", post(crate::alias_domain::set_active))
        .route("/admin/aliasdomains/{domain}/delete", post(crate::alias_domain::delete))
        .route("/admin/admins", get(crate::admin::admins).post(crate::admin::add_admin))
        .route("/admin/admins/{username}/delete", post(crate::admin::delete_admin))
        .route("/admin/password", post(crate::admin::change_own_password))
        .route("/admin/log", get(crate::admin::log_page))
        .route("/admin/queue", get(crate::queue::list))
        .route("/admin/queue/flush", post(crate::queue::flush))
        .route("/admin/queue/{id}", get(crate::queue::show))
        .route("/admin/queue/{id}/{op}", post(crate::queue::change))
        .route("/mail/config-v1.1.xml", get(crate::discovery::autoconfig))
        .route("/.well-known/autoconfig/mail/config-v1.1.xml", get(crate::discovery::autoconfig))
        .route("/autodiscover/autodiscover.xml", post(crate::discovery::autodiscover))
        .route("/Autodiscover/Autodiscover.xml", post(crate::discovery::autodiscover))
        .route("/.well-known/mta-sts.txt", get(crate::discovery::mta_sts))
        .route("/apple/mobileconfig", get(crate::discovery::mobileconfig))
        .route("/style.css", get(page::stylesheet))
        .fallback(page::not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Paths whose POST is not a form of ours (a mail client's XML).
fn not_a_form(path: &str) -> bool {
    path.eq_ignore_ascii_case("/autodiscover/autodiscover.xml")
}

/// Resolve client and session, refuse a form without its token, add the security headers.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let conn = req.extensions().get::<ConnInfo>().copied().unwrap_or(ConnInfo { peer: None, tls: false });
    let (client, https) = app.client(conn, req.headers());
    let session = cookie_value(req.headers(), &app.cookie).and_then(|id| app.sessions.get(id));
    let login_csrf = cookie_value(req.headers(), &format!("{}_login", app.cookie))
        .filter(|t| t.len() == 64)
        .map(String::from);
    let resolved = Req { client, session, login_csrf };
    let mut response = if req.method() == Method::POST && !not_a_form(req.uri().path()) {
        let (mut parts, body) = req.into_parts();
        match axum::body::to_bytes(body, MAX_FORM).await {
            Err(_) => page::error(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large."),
            Ok(bytes) if !token_matches(&bytes, &resolved) => {
                tracing::info!(client = %resolved.client, path = %parts.uri.path(), "form refused: missing or wrong token");
                page::error(
                    StatusCode::FORBIDDEN,
                    "This form has expired. Go back, reload the page and try again.",
                )
            }
            Ok(bytes) => {
                parts.extensions.insert(resolved);
                next.run(Request::from_parts(parts, Body::from(bytes))).await
            }
        }
    } else {
        let mut req = req;
        req.extensions_mut().insert(resolved);
        next.run(req).await
    };
    crate::metrics::request(response.status());
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    if https {
        set(h, "strict-transport-security", "max-age=31536000");
    }
    response
}

/// The body's `csrf` field is the session's token, or (no session: the login form) the
/// login cookie's.
fn token_matches(body: &Bytes, req: &Req) -> bool {
    let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else { return false };
    let Some((_, sent)) = fields.iter().find(|(k, _)| k == "csrf") else { return false };
    match (&req.session, &req.login_csrf) {
        (Some(s), _) if same(sent, &s.csrf) => true,
        (_, Some(t)) => same(sent, t),
        _ => false,
    }
}

/// Where an anonymous visitor of a page that needs a login goes.
pub fn to_login() -> Response {
    Redirect::to("/login").into_response()
}
