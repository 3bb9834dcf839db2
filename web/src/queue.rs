//! The mail queue for admins: mailq, postcat -q, postsuper -h/-H/-r/-d and postqueue -f,
//! through the operations `mailroomctl queue` runs (`mailroom_mta::queue::admin`, each under
//! the message's lock) and mailroom-mta's control socket. A domain admin sees and changes only
//! messages from or to one of their domains; flushing the whole queue is the superadmin's.

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use authlib::AdminInfo;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use mailroom_mta::queue::admin::{self, Change, Entry};
use mailroom_mta::queue::{QueueId, Spool};
use maud::{Markup, html};

use crate::admin::{admin, csrf, record, superadmin};
use crate::app::{App, Req};
use crate::login::Done;
use crate::page::{self, Page};

/// Most of a message shown on its page.
const SHOW_BYTES: u64 = 64 * 1024;

/// Where the queue is: `[mta] spool_dir` and `control_socket`.
pub struct Queue {
    pub spool_dir: PathBuf,
    pub control: PathBuf,
}

impl Queue {
    /// The spool, when mailroom-mta has made one here.
    fn spool(&self) -> Result<Spool, Response> {
        if !self.spool_dir.join("queue").is_dir() {
            return Err(page::error(
                StatusCode::NOT_FOUND,
                "There is no mail queue on this host ([mta] spool_dir).",
            ));
        }
        Spool::open(&self.spool_dir).map_err(|e| failed(&e))
    }
}

fn failed(e: &std::io::Error) -> Response {
    tracing::error!(error = %e, "mail queue");
    page::error(StatusCode::SERVICE_UNAVAILABLE, "The mail queue cannot be read now. Try again in a moment.")
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(x)) => Ok(x),
        Ok(Err(e)) => Err(failed(&e)),
        Err(e) => Err(failed(&std::io::Error::other(e))),
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Whether `a` may see the message: a superadmin, or the sender's or a recipient's domain is
/// theirs.
fn visible(a: &AdminInfo, e: &Entry) -> bool {
    a.superadmin
        || a.manages(domain_of(&e.envelope.sender))
        || e.recipients().any(|(r, _)| a.manages(domain_of(&r.address)))
}

fn held(e: &Entry) -> &'static str {
    if e.state.held { "held" } else { "" }
}

fn actions(s: &crate::session::Current, e: &Entry) -> Markup {
    let id = e.envelope.id.as_str();
    html! {
        @for op in [if e.state.held { "release" } else { "hold" }, "requeue", "delete"] {
            form.inline method="post" action=(format!("/admin/queue/{id}/{op}")) {
                (csrf(s))
                button type="submit" { (op) }
            }
            " "
        }
    }
}

/// `/admin/queue`: the messages this admin may see, oldest first.
pub async fn list(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Query(d): Query<Done>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let spool = app.queue.spool()?;
    let entries = blocking(move || admin::list(&spool)).await?;
    let entries: Vec<&Entry> = entries.iter().filter(|e| visible(&a, e)).collect();
    let body = html! {
        @if entries.is_empty() { p { "The mail queue is empty." } }
        @else {
            table {
                thead { tr { th { "Queue id" } th { "Size" } th { "Arrival" } th { "Sender" } th { "Waiting for" } th {} th {} } }
                tbody {
                    @for e in &entries {
                        tr {
                            td { a href=(format!("/admin/queue/{}", e.envelope.id.as_str())) { (e.envelope.id.as_str()) } }
                            td { (e.size) }
                            td { (e.arrival_text()) }
                            td { @if e.envelope.sender.is_empty() { "MAILER-DAEMON" } @else { (e.envelope.sender) } }
                            td {
                                @for (r, o) in e.pending() {
                                    (r.address)
                                    @if let Some(o) = o { " (" (o.attempt().reply.to_string()) ")" }
                                    br;
                                }
                            }
                            td { (held(e)) }
                            td { (actions(&s, e)) }
                        }
                    }
                }
            }
        }
        @if a.superadmin {
            form method="post" action="/admin/queue/flush" {
                (csrf(&s))
                button type="submit" { "Try every deferred message now" }
            }
        }
    };
    Ok(page::ok(page::layout("Mail queue", Some(&s), Some(a.superadmin), d.notice(), body)))
}

fn queue_id(raw: &str) -> Result<QueueId, Response> {
    QueueId::parse(raw).ok_or_else(|| page::error(StatusCode::NOT_FOUND, "There is no such message."))
}

/// The message `id` if this admin may see it (404 alike for a missing one and another
/// domain's, so ids of others' mail cannot be probed).
async fn entry(app: &App, a: &AdminInfo, id: &QueueId) -> Result<(Spool, Entry), Response> {
    let spool = app.queue.spool()?;
    let (sp, i) = (spool.clone(), id.clone());
    match blocking(move || sp.peek(&i)).await? {
        Some(e) if visible(a, &e) => Ok((spool, e)),
        _ => Err(page::error(StatusCode::NOT_FOUND, "There is no such message.")),
    }
}

/// `/admin/queue/{id}`: envelope, delivery state and (the start of) the message.
pub async fn show(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path(raw): Path<String>,
    Query(d): Query<Done>,
) -> Page {
    let (s, a) = admin(&app, &req).await?;
    let id = queue_id(&raw)?;
    let (spool, e) = entry(&app, &a, &id).await?;
    let i = id.clone();
    let text = blocking(move || {
        let mut buf = Vec::new();
        spool.open_message(&i)?.take(SHOW_BYTES).read_to_end(&mut buf)?;
        Ok(buf)
    })
    .await?;
    let env = &e.envelope;
    let body = html! {
        p { a href="/admin/queue" { "Back to the queue" } }
        table {
            tr { th { "Arrival" } td { (e.arrival_text()) } }
            tr { th { "Sender" } td { (env.sender) } }
            tr { th { "Client" } td { (env.client) " helo=" (env.helo) " auth=" (env.auth.as_deref().unwrap_or("-")) } }
            tr { th { "Attempts" } td { (e.state.attempts) @if e.state.held { " (held)" } } }
            @for (r, o) in e.recipients() {
                tr { th { "Recipient" } td { (r.address) " "
                    @match o { None => { "(pending)" } Some(o) => {
                        "(" (if o.is_final() { o.name() } else { "pending" }) ") " (o.attempt().reply.to_string()) } } } }
            }
        }
        p { (actions(&s, &e)) }
        h2 { "Message" @if e.size > SHOW_BYTES { " (the first " (SHOW_BYTES / 1024) " KB)" } }
        pre { (String::from_utf8_lossy(&text)) }
    };
    Ok(page::ok(page::layout(
        &format!("Queued message {}", id.as_str()),
        Some(&s),
        Some(a.superadmin),
        d.notice(),
        body,
    )))
}

/// Hold, release, requeue or delete one message, then tell mailroom-mta to rescan.
pub async fn change(
    State(app): State<Arc<App>>,
    Extension(req): Extension<Req>,
    Path((raw, op)): Path<(String, String)>,
) -> Page {
    let (_, a) = admin(&app, &req).await?;
    let change = match op.as_str() {
        "hold" => Change::Hold,
        "release" => Change::Release,
        "requeue" => Change::Requeue,
        "delete" => Change::Delete,
        _ => return Err(page::error(StatusCode::NOT_FOUND, "There is no such page.")),
    };
    let id = queue_id(&raw)?;
    let (spool, e) = entry(&app, &a, &id).await?;
    let i = id.clone();
    // Waits for a delivery in progress to finish with the message.
    if !blocking(move || admin::change(&spool, &i, change)).await? {
        return Err(page::error(StatusCode::NOT_FOUND, "There is no such message."));
    }
    tell(&app, "rescan").await;
    let domain = e.recipients().map(|(r, _)| domain_of(&r.address)).find(|d| a.manages(d)).unwrap_or("");
    record(&app, &req, &a, domain, &format!("queue_{op}"), id.as_str()).await;
    if change == Change::Delete {
        page::done("/admin/queue", "queue-changed")
    } else {
        page::done(&format!("/admin/queue/{}", id.as_str()), "queue-changed")
    }
}

/// Try every deferred message now (superadmins).
pub async fn flush(State(app): State<Arc<App>>, Extension(req): Extension<Req>) -> Page {
    let (_, a) = superadmin(&app, &req).await?;
    app.queue.spool()?;
    if !tell(&app, "flush").await {
        return Err(page::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "mailroom-mta is not answering. Try again in a moment.",
        ));
    }
    record(&app, &req, &a, "", "queue_flush", "").await;
    page::done("/admin/queue", "queue-flushed")
}

/// Send `request` to mailroom-mta's control socket; false when it did not answer `ok`. A
/// change it is not told about is picked up at its next queue scan.
async fn tell(app: &App, request: &str) -> bool {
    match mailroom_mta::control::request(&app.queue.control, request).await {
        Ok(a) if a == "ok" => true,
        Ok(a) => {
            tracing::warn!(answer = %a, request, "mailroom-mta control");
            false
        }
        Err(e) => {
            tracing::info!(error = %e, request, "mailroom-mta not told; it sees the change at its next queue scan");
            false
        }
    }
}
