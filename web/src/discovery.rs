//! What mail clients and other MTAs ask a mail domain's web server: Thunderbird's autoconfig,
//! Outlook's autodiscover (POX), Apple's configuration profile (`.mobileconfig`) and the
//! MTA-STS policy, from the configured listeners.

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

/// An Apple configuration profile (`.mobileconfig`) for `?emailaddress=`: one IMAP (else
/// POP3) account with SMTP submission, the password left for the device to ask. Its
/// identifiers and UUIDs derive from the address and host, so that installing it again
/// replaces the earlier one instead of adding a second account.
pub async fn mobileconfig(State(app): State<Arc<App>>, Query(q): Query<AutoconfigQuery>) -> Response {
    let Some(addr) = q.emailaddress.as_deref().and_then(|a| Address::parse(a).ok()) else {
        return (StatusCode::BAD_REQUEST, "emailaddress is not an address\n").into_response();
    };
    match our_domain(&app, addr.domain()).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_ours(),
        Err(r) => return r,
    }
    let s = &app.discovery;
    let (incoming, kind) = match (s.imap, s.pop3) {
        (Some(e), _) => (e, "EmailTypeIMAP"),
        (None, Some(e)) => (e, "EmailTypePOP"),
        (None, None) => return (StatusCode::NOT_FOUND, "no IMAP or POP3 listener\n").into_response(),
    };
    let Some(smtp) = s.smtp else {
        return (StatusCode::NOT_FOUND, "no submission listener\n").into_response();
    };
    let (a, host) = (xml(&addr.to_string()), xml(&s.hostname));
    // Reversed host name, as Apple's identifiers are.
    let id: String = s.hostname.split('.').rev().collect::<Vec<_>>().join(".");
    let id = xml(&format!("{id}.mailroom.{}", addr));
    let seed = format!("{}\n{}", addr, s.hostname);
    // STARTTLS and implicit TLS are both "use SSL" to the device, which negotiates either.
    let ssl = |e: Endpoint| if e.implicit || s.tls { "<true/>" } else { "<false/>" };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\
         <key>PayloadContent</key>\n<array>\n<dict>\n\
         <key>EmailAccountDescription</key><string>{a}</string>\n\
         <key>EmailAccountName</key><string>{a}</string>\n\
         <key>EmailAccountType</key><string>{kind}</string>\n\
         <key>EmailAddress</key><string>{a}</string>\n\
         <key>IncomingMailServerAuthentication</key><string>EmailAuthPassword</string>\n\
         <key>IncomingMailServerHostName</key><string>{host}</string>\n\
         <key>IncomingMailServerPortNumber</key><integer>{}</integer>\n\
         <key>IncomingMailServerUseSSL</key>{}\n\
         <key>IncomingMailServerUsername</key><string>{a}</string>\n\
         <key>OutgoingMailServerAuthentication</key><string>EmailAuthPassword</string>\n\
         <key>OutgoingMailServerHostName</key><string>{host}</string>\n\
         <key>OutgoingMailServerPortNumber</key><integer>{}</integer>\n\
         <key>OutgoingMailServerUseSSL</key>{}\n\
         <key>OutgoingMailServerUsername</key><string>{a}</string>\n\
         <key>OutgoingPasswordSameAsIncomingPassword</key><true/>\n\
         <key>PayloadDisplayName</key><string>{a}</string>\n\
         <key>PayloadIdentifier</key><string>{id}.account</string>\n\
         <key>PayloadType</key><string>com.apple.mail.managed</string>\n\
         <key>PayloadUUID</key><string>{}</string>\n\
         <key>PayloadVersion</key><integer>1</integer>\n\
         <key>PreventAppSheet</key><false/>\n\
         <key>PreventMove</key><false/>\n\
         <key>SMIMEEnabled</key><false/>\n\
         </dict>\n</array>\n\
         <key>PayloadDisplayName</key><string>Mail: {a}</string>\n\
         <key>PayloadIdentifier</key><string>{id}</string>\n\
         <key>PayloadRemovalDisallowed</key><false/>\n\
         <key>PayloadType</key><string>Configuration</string>\n\
         <key>PayloadUUID</key><string>{}</string>\n\
         <key>PayloadVersion</key><integer>1</integer>\n\
         </dict>\n</plist>\n",
        incoming.port,
        ssl(incoming),
        smtp.port,
        ssl(smtp),
        uuid(&format!("{seed}\naccount")),
        uuid(&format!("{seed}\nprofile")),
    );
    let file = format!("attachment; filename=\"{}.mobileconfig\"", addr.domain().as_str());
    (
        [
            (header::CONTENT_TYPE, "application/x-apple-aspen-config".to_string()),
            (header::CONTENT_DISPOSITION, file),
        ],
        body,
    )
        .into_response()
}

/// FNV-1a, 64 bits, from `basis`.
fn fnv(basis: u64, text: &str) -> u64 {
    text.bytes().fold(basis, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A name-based UUID (the version 8 layout of RFC 9562: custom bits) from `text`: the same
/// text, the same UUID.
fn uuid(text: &str) -> String {
    let hi = fnv(0xcbf2_9ce4_8422_2325, text);
    let lo = fnv(0x8422_2325_cbf2_9ce4, text);
    let hi = (hi & !0xf000) | 0x8000; // version 8
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62); // RFC variant
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
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
        format!("{:016x}", fnv(0xcbf2_9ce4_8422_2325, &self.mta_sts_policy()))
    }
}

#[cfg(test)]
mod tests {
    use super::{element, uuid};

    #[test]
    fn profile_uuids_are_stable_and_well_formed() {
        let u = uuid("bob@a.test\nmail.a.test\naccount");
        assert_eq!(u, uuid("bob@a.test\nmail.a.test\naccount"));
        assert_ne!(u, uuid("bob@a.test\nmail.a.test\nprofile"));
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('8'), "version 8: {u}");
        assert!("89AB".contains(&parts[3][..1]), "RFC variant: {u}");
    }

    #[test]
    fn autodiscover_request_element() {
        let req = "<Autodiscover><Request><EMailAddress> a@b.test </EMailAddress></Request></Autodiscover>";
        assert_eq!(element(req, "EMailAddress"), Some("a@b.test"));
        assert_eq!(element("<EMailAddress>", "EMailAddress"), None);
    }
}
