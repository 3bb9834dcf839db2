//! What mail clients and other MTAs ask a mail domain's web server: Thunderbird's autoconfig,
//! Outlook's autodiscover (POX) and the MTA-STS policy, from the configured listeners.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use proto::{Address, Domain};
use serde::Deserialize;

use crate::app::App;

/// One way into the mail server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The TCP port.
    pub port: u16,
    /// Implicit TLS (993, 995, 465) rather than STARTTLS.
    pub implicit: bool,
}

/// The answers' ingredients, fixed at start.
pub struct Settings {
    pub hostname: String,
    pub tls: bool,
    pub imap: Option<Endpoint>,
    pub pop3: Option<Endpoint>,
    pub smtp: Option<Endpoint>,
}

fn first(implicit: &[std::net::SocketAddr], plain: &[std::net::SocketAddr], tls: bool) -> Option<Endpoint> {
    match (implicit.first(), plain.first()) {
        (Some(a), _) if tls => Some(Endpoint { port: a.port(), implicit: true }),
        (_, Some(a)) => Some(Endpoint { port: a.port(), implicit: false }),
        _ => None,
    }
}

impl Settings {
    /// From `[web] mail_hostname` (else `[mta] hostname`, else the host's name), `[mra]`'s and
    /// `[mta]`'s listeners, and whether `[tls]` is set (implicit TLS preferred, as RFC 8314 says).
    pub fn new(cfg: &config::Config) -> Settings {
        let name = if cfg.web.mail_hostname.is_empty() { &cfg.mta.hostname } else { &cfg.web.mail_hostname };
        let tls = cfg.tls.enabled();
        Settings {
            hostname: daemon::host::name(name),
            tls,
            imap: first(&cfg.mra.imaps_listen, &cfg.mra.imap_listen, tls),
            pop3: first(&cfg.mra.pop3s_listen, &cfg.mra.pop3_listen, tls),
            smtp: first(&cfg.mta.submissions_listen, &cfg.mta.submission_listen, tls),
        }
    }

    fn socket_type(&self, e: Endpoint) -> &'static str {
        match (e.implicit, self.tls) {
            (true, _) => "SSL",
            (false, true) => "STARTTLS",
            (false, false) => "plain",
        }
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn xml_answer(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
}

fn not_ours() -> Response {
    (StatusCode::NOT_FOUND, "no such mail domain\n").into_response()
}

/// The domain asked about, if it is one of ours (canonical: an alias domain's target).
async fn our_domain(app: &App, d: &Domain) -> Result<Option<Domain>, Response> {
    app.dir.local_domain(d).await.map_err(|e| crate::page::unavailable(&e.to_string()))
}

#[derive(Deserialize)]
pub struct AutoconfigQuery {
    emailaddress: Option<String>,
}

/// Thunderbird's autoconfig (config-v1.1.xml) for `?emailaddress=`, else for the host asked
/// (`autoconfig.<domain>`).
pub async fn autoconfig(
    State(app): State<Arc<App>>,
    Query(q): Query<AutoconfigQuery>,
    headers: HeaderMap,
) -> Response {
    let domain = match q.emailaddress.as_deref() {
        Some(a) => match Address::parse(a) {
            Ok(a) => a.domain().clone(),
            Err(_) => return (StatusCode::BAD_REQUEST, "emailaddress is not an address\n").into_response(),
        },
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            match Domain::parse(host.strip_prefix("autoconfig.").unwrap_or(host)) {
                Ok(d) => d,
                Err(_) => return not_ours(),
            }
        }
    };
    match our_domain(&app, &domain).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_ours(),
        Err(r) => return r,
    }
    let s = &app.discovery;
    let d = xml(domain.as_str());
    let host = xml(&s.hostname);
    let server = |kind: &str, tag: &str, e: Option<Endpoint>| match e {
        None => String::new(),
        Some(e) => format!(
            "    <{tag} type=\"{kind}\">\n      <hostname>{host}</hostname>\n      <port>{}</port>\n      \
             <socketType>{}</socketType>\n      <authentication>password-cleartext</authentication>\n      \
             <username>%EMAILADDRESS%</username>\n    </{tag}>\n",
            e.port,
            s.socket_type(e)
        ),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  \
         <emailProvider id=\"{d}\">\n    <domain>{d}</domain>\n    <displayName>{d} mail</displayName>\n    \
         <displayShortName>{d}</displayShortName>\n{}{}{}  </emailProvider>\n</clientConfig>\n",
        server("imap", "incomingServer", s.imap),
        server("pop3", "incomingServer", s.pop3),
        server("smtp", "outgoingServer", s.smtp),
    );
    xml_answer(body)
}

/// The text of the first `<tag>...</tag>` in `body`.
fn element<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].trim())
}

/// Outlook's autodiscover (POX): the request's EMailAddress in, IMAP and SMTP settings out.
pub async fn autodiscover(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let Some(addr) = element(&text, "EMailAddress").and_then(|a| Address::parse(a).ok()) else {
        return (StatusCode::BAD_REQUEST, "no EMailAddress in the request\n").into_response();
    };
    match our_domain(&app, addr.domain()).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_ours(),
        Err(r) => return r,
    }
    let s = &app.discovery;
    let (host, login) = (xml(&s.hostname), xml(&addr.to_string()));
    let protocol = |kind: &str, e: Option<Endpoint>| match e {
        None => String::new(),
        Some(e) => {
            let tls = if e.implicit {
                "<SSL>on</SSL>".to_string()
            } else if s.tls {
                "<SSL>on</SSL><Encryption>TLS</Encryption>".to_string()
            } else {
                "<SSL>off</SSL>".to_string()
            };
            format!(
                "      <Protocol><Type>{kind}</Type><Server>{host}</Server><Port>{}</Port>\
                 <DomainRequired>off</DomainRequired><LoginName>{login}</LoginName><SPA>off</SPA>{tls}\
                 <AuthRequired>on</AuthRequired></Protocol>\n",
                e.port
            )
        }
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n  \
         <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n    \
         <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n{}{}{}    </Account>\n  \
         </Response>\n</Autodiscover>\n",
        protocol("IMAP", s.imap),
        protocol("POP3", s.pop3),
        protocol("SMTP", s.smtp),
    );
    xml_answer(body)
}

/// The MTA-STS policy (RFC 8461): our MX host, enforce when we have a certificate.
pub async fn mta_sts(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], app.discovery.mta_sts_policy()).into_response()
}

impl Settings {
    /// The MTA-STS policy text.
    pub fn mta_sts_policy(&self) -> String {
        let mode = if self.tls { "enforce" } else { "testing" };
        format!("version: STSv1\r\nmode: {mode}\r\nmx: {}\r\nmax_age: 604800\r\n", self.hostname)
    }

    /// The policy's id for the `_mta-sts` TXT record: it changes when the policy does
    /// (FNV-1a of the text, stable across builds).
    pub fn mta_sts_id(&self) -> String {
        let h = self
            .mta_sts_policy()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        format!("{h:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::element;

    #[test]
    fn autodiscover_request_element() {
        let req = "<Autodiscover><Request><EMailAddress> a@b.test </EMailAddress></Request></Autodiscover>";
        assert_eq!(element(req, "EMailAddress"), Some("a@b.test"));
        assert_eq!(element("<EMailAddress>", "EMailAddress"), None);
    }
}
