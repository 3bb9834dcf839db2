//! Milters: mail filters (rspamd, clamav-milter, spamass-milter, opendkim) asked about each
//! message before it is queued, over the Sendmail milter protocol as Postfix speaks it.
//!
//! [`protocol`] is the protocol with no I/O: packets, the negotiation, every reply. [`conn`] is
//! one connection to one filter. [`message`] is the message as filters see and change it.
//! [`Filters`] is one SMTP session's conversation with every configured filter, in order:
//! the session asks it at MAIL, RCPT and DATA (the connection and HELO are told at the first
//! MAIL), and gives it the whole message before answering the end of DATA. A filter that
//! fails (down, slow, nonsense) gets `milter_default_action`: never an accepted message
//! that a filter did not see, unless the admin chose `accept`.

pub mod conn;
pub mod message;
pub mod protocol;

use std::sync::Arc;

use config::MilterAction;
use smtp::Reply;

use conn::{Conn, Endpoint, Timeouts};
use message::Message;
use protocol::{Command, Family, Modification, Response, Stage, Step};

/// The filters of one listener role (smtpd_milters or non_smtpd_milters) and their settings.
#[derive(Debug, Clone)]
pub struct Milters {
    /// In order.
    pub endpoints: Vec<Endpoint>,
    /// milter_default_action.
    pub default_action: MilterAction,
    /// The timeouts.
    pub timeouts: Timeouts,
    /// Our host name (`j`).
    pub hostname: String,
}

impl Milters {
    /// Parses a list of `inet:`/`unix:` endpoints; `None` when it is empty.
    pub fn parse(
        list: &[String],
        default_action: MilterAction,
        timeouts: Timeouts,
        hostname: &str,
    ) -> Result<Option<Arc<Milters>>, String> {
        if list.is_empty() {
            return Ok(None);
        }
        let endpoints = list.iter().map(|s| s.parse()).collect::<Result<Vec<Endpoint>, String>>()?;
        Ok(Some(Arc::new(Milters { endpoints, default_action, timeouts, hostname: hostname.to_string() })))
    }
}

/// What the session knows about its client, for CONNECT, HELO and the macros.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Its address and port (`None`: the local submission socket).
    pub addr: Option<std::net::SocketAddr>,
    /// HELO name.
    pub helo: String,
    /// TLS protocol and cipher, when under TLS.
    pub tls: Option<(String, String)>,
    /// SASL login and mechanism, when authenticated.
    pub login: Option<String>,
}

/// The end of a message, as the filters left it.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Accept silently and drop (SMFIR_DISCARD).
    pub discard: bool,
    /// Queue on hold, with the filter's reason (SMFIR_QUARANTINE).
    pub quarantine: Option<String>,
    /// Envelope changes (sender, recipients) in the order the filters asked for them.
    pub envelope: Vec<Modification>,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Not connected yet (or connection lost after the last message).
    Idle,
    /// Talking; `done` once it accepted or discarded this message.
    Open { done: bool },
    /// Accepted the whole connection (at CONNECT or HELO), or failed with `accept` as default.
    Quiet,
    /// Refused the connection at CONNECT or HELO: every MAIL gets this.
    Refused(Reply),
}

struct Slot {
    endpoint: Endpoint,
    conn: Option<Conn>,
    state: State,
}

/// One session's filters.
pub struct Filters {
    cfg: Arc<Milters>,
    slots: Vec<Slot>,
    /// RSET or the end of a refused message: each open filter gets ABORT before the next MAIL.
    abort: bool,
    /// A filter discarded at MAIL, RCPT or DATA.
    discard: bool,
}

/// What went wrong with a filter.
enum Failure {
    /// It gave a final answer the client must get.
    Reply(Reply),
    /// It is broken; `milter_default_action` applies.
    Broken(String),
}

fn reject() -> Reply {
    Reply::new(550, "5.7.1", "Command rejected")
}

fn tempfail() -> Reply {
    Reply::new(451, "4.7.1", "Service unavailable - try again later")
}

fn reply_code(rc: &protocol::ReplyCode) -> Reply {
    Reply { code: rc.code, enhanced: "", lines: rc.lines.clone() }
}

impl Filters {
    /// A session's filters, none connected yet.
    pub fn new(cfg: Arc<Milters>) -> Filters {
        let slots = cfg
            .endpoints
            .iter()
            .map(|e| Slot { endpoint: e.clone(), conn: None, state: State::Idle })
            .collect();
        Filters { cfg, slots, abort: false, discard: false }
    }

    /// Forget the current message (RSET, a refused transaction): ABORT goes out before the
    /// next MAIL.
    pub fn reset(&mut self) {
        self.abort = true;
        self.discard = false;
    }

    fn macros(
        &self,
        stage: Stage,
        client: &ClientInfo,
        extra: &[(&'static str, String)],
    ) -> Vec<(&'static str, String)> {
        let mut m: Vec<(&'static str, String)> = Vec::new();
        match stage {
            Stage::Connect => {
                let addr = client.addr.map(|a| a.ip().to_string()).unwrap_or_else(|| "127.0.0.1".into());
                let port = client.addr.map(|a| a.port()).unwrap_or(0);
                let name = if client.addr.is_some() { "unknown" } else { "localhost" };
                m.push(("j", self.cfg.hostname.clone()));
                m.push(("_", format!("{name} [{addr}]")));
                m.push(("{daemon_name}", "mailroom-mta".into()));
                m.push(("{client_addr}", addr));
                m.push(("{client_name}", name.into()));
                m.push(("{client_port}", port.to_string()));
                m.push(("v", "mailroom".into()));
            }
            Stage::Helo => {
                if let Some((version, cipher)) = &client.tls {
                    m.push(("{tls_version}", version.clone()));
                    m.push(("{cipher}", cipher.clone()));
                }
            }
            Stage::Mail => {
                if let Some(login) = &client.login {
                    m.push(("{auth_type}", "PLAIN".into()));
                    m.push(("{auth_authen}", login.clone()));
                }
            }
            _ => {}
        }
        m.extend(extra.iter().cloned());
        m
    }

    /// Sends `cmd` (with the stage's macros) to each filter still listening, reading each
    /// answer in turn. `Ok` when every one let it pass.
    async fn ask(
        &mut self,
        stage: Stage,
        step: Step,
        cmd: &Command<'_>,
        macros: &[(&'static str, String)],
    ) -> Result<(), Reply> {
        let limit = self.cfg.timeouts.command;
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let State::Open { done: false } = slot.state else { continue };
            let conn = slot.conn.as_mut().expect("open filters have a connection");
            let result = exchange(conn, stage, step, cmd, macros, limit).await;
            match result {
                Ok(Some(Response::Continue)) | Ok(None) => {}
                Ok(Some(Response::Accept)) => {
                    slot.state = if matches!(stage, Stage::Connect | Stage::Helo) {
                        State::Quiet
                    } else {
                        State::Open { done: true }
                    }
                }
                Ok(Some(Response::Discard)) if !matches!(stage, Stage::Connect | Stage::Helo) => {
                    tracing::info!(milter = %slot.endpoint, stage = ?stage, "milter discards the message");
                    self.discard = true;
                    slot.state = State::Open { done: true };
                }
                Ok(Some(r)) => {
                    let failure = match final_reply(r) {
                        Ok(reply) => Failure::Reply(reply),
                        Err(e) => Failure::Broken(e),
                    };
                    if let Some(reply) = self.fail(i, failure, stage) {
                        return Err(reply);
                    }
                }
                Err(e) => {
                    if let Some(reply) = self.fail(i, Failure::Broken(e.to_string()), stage) {
                        return Err(reply);
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles a failure of filter `i`: the reply for the client, if any.
    fn fail(&mut self, i: usize, failure: Failure, stage: Stage) -> Option<Reply> {
        let slot = &mut self.slots[i];
        match failure {
            Failure::Reply(reply) => {
                tracing::info!(milter = %slot.endpoint, stage = ?stage, reply = %reply.to_string().trim_end(), "milter refuses");
                if matches!(stage, Stage::Connect | Stage::Helo) {
                    slot.state = State::Refused(reply.clone());
                }
                Some(reply)
            }
            Failure::Broken(why) => {
                tracing::warn!(milter = %slot.endpoint, stage = ?stage, error = %why, action = ?self.cfg.default_action, "milter failed");
                slot.conn = None;
                match self.cfg.default_action {
                    MilterAction::Accept => {
                        slot.state = State::Quiet;
                        None
                    }
                    MilterAction::Tempfail => {
                        slot.state = State::Idle;
                        Some(tempfail())
                    }
                    MilterAction::Reject => {
                        slot.state = State::Idle;
                        Some(reject())
                    }
                }
            }
        }
    }

    /// Connects the filters not connected yet and tells them CONNECT and HELO; sends ABORT to
    /// the others when the last message was not finished.
    async fn start(&mut self, client: &ClientInfo) -> Result<(), Reply> {
        let limit = self.cfg.timeouts.command;
        let abort = std::mem::take(&mut self.abort);
        {
            for i in 0..self.slots.len() {
                let slot = &mut self.slots[i];
                // Also a filter that accepted the last transaction early, whatever ended it.
                if let State::Open { done } = slot.state
                    && (abort || done)
                {
                    let conn = slot.conn.as_mut().expect("open filters have a connection");
                    if let Err(e) = conn.send(&Command::Abort, limit).await {
                        slot.conn = None;
                        slot.state = State::Idle;
                        tracing::warn!(milter = %slot.endpoint, error = %e, "milter lost at ABORT");
                    } else {
                        slot.state = State::Open { done: false };
                    }
                }
            }
        }
        let mut fresh = Vec::new();
        for i in 0..self.slots.len() {
            match &self.slots[i].state {
                State::Refused(r) => return Err(r.clone()),
                State::Idle => match Conn::open(&self.slots[i].endpoint, &self.cfg.timeouts).await {
                    Ok(c) => {
                        self.slots[i].conn = Some(c);
                        self.slots[i].state = State::Open { done: false };
                        fresh.push(i);
                    }
                    Err(e) => {
                        if let Some(reply) =
                            self.fail(i, Failure::Broken(format!("connect: {e}")), Stage::Connect)
                        {
                            return Err(reply);
                        }
                    }
                },
                _ => {}
            }
        }
        self.start_rest(client, fresh).await
    }

    /// CONNECT and HELO to the filters just connected (the others are quiet for them).
    async fn start_rest(&mut self, client: &ClientInfo, fresh: Vec<usize>) -> Result<(), Reply> {
        // Ask only the fresh ones: the others heard CONNECT and HELO before.
        let mut parked = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if !fresh.contains(&i) && slot.state == (State::Open { done: false }) {
                slot.state = State::Open { done: true };
                parked.push(i);
            }
        }
        let family = match client.addr {
            Some(a) => Family::Inet(a),
            None => Family::Inet(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        };
        let hostname = if client.addr.is_some() { "unknown" } else { "localhost" };
        let connect_macros = self.macros(Stage::Connect, client, &[]);
        let result = async {
            self.ask(
                Stage::Connect,
                Step::Connect,
                &Command::Connect { hostname, family: &family },
                &connect_macros,
            )
            .await?;
            if !client.helo.is_empty() {
                let helo_macros = self.macros(Stage::Helo, client, &[]);
                self.ask(Stage::Helo, Step::Helo, &Command::Helo(&client.helo), &helo_macros).await?;
            }
            Ok(())
        }
        .await;
        for i in parked {
            if self.slots[i].state == (State::Open { done: true }) {
                self.slots[i].state = State::Open { done: false };
            }
        }
        result
    }

    /// MAIL FROM: `<sender>` and its parameters.
    pub async fn mail(
        &mut self,
        client: &ClientInfo,
        sender: &str,
        params: Vec<String>,
    ) -> Result<(), Reply> {
        self.discard = false;
        self.start(client).await?;
        let mut args = vec![format!("<{sender}>")];
        args.extend(params);
        let macros = self.macros(Stage::Mail, client, &[("{mail_addr}", sender.to_string())]);
        self.ask(Stage::Mail, Step::Mail, &Command::Mail(&args), &macros).await
    }

    /// RCPT TO: a refusal refuses this recipient only.
    pub async fn rcpt(&mut self, client: &ClientInfo, rcpt: &str, local: bool) -> Result<(), Reply> {
        let args = vec![format!("<{rcpt}>")];
        let mailer = if local { "local" } else { "smtp" };
        let macros = self.macros(
            Stage::Rcpt,
            client,
            &[("{rcpt_addr}", rcpt.to_string()), ("{rcpt_mailer}", mailer.into())],
        );
        self.ask(Stage::Rcpt, Step::Rcpt, &Command::Rcpt(&args), &macros).await
    }

    /// DATA, before our 354.
    pub async fn data(&mut self, client: &ClientInfo, queue_id: &str) -> Result<(), Reply> {
        let macros = self.macros(Stage::Data, client, &[("i", queue_id.to_string())]);
        self.ask(Stage::Data, Step::Data, &Command::Data, &macros).await
    }

    /// The whole message, to each filter in turn (each sees what the ones before changed);
    /// header and body changes are applied to `msg`, envelope changes returned.
    pub async fn message(
        &mut self,
        client: &ClientInfo,
        queue_id: &str,
        msg: &mut Message,
    ) -> Result<Outcome, Reply> {
        let mut outcome = Outcome { discard: self.discard, ..Outcome::default() };
        // Whatever happens, the next MAIL starts with ABORT (harmless after a complete message,
        // needed after one a filter accepted early).
        self.abort = true;
        if outcome.discard {
            return Ok(outcome);
        }
        let macros = self.macros(Stage::Eom, client, &[("i", queue_id.to_string())]);
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let State::Open { done: false } = slot.state else { continue };
            let conn = slot.conn.as_mut().expect("open filters have a connection");
            let endpoint = slot.endpoint.clone();
            match content(conn, &self.cfg.timeouts, &macros, msg, &mut outcome, &endpoint).await {
                Ok(()) => slot.state = State::Open { done: false },
                Err(failure) => {
                    if let Some(reply) = self.fail(i, failure, Stage::Eom) {
                        return Err(reply);
                    }
                }
            }
            if outcome.discard {
                break;
            }
        }
        Ok(outcome)
    }
}

impl Drop for Filters {
    fn drop(&mut self) {
        let conns: Vec<Conn> = self.slots.iter_mut().filter_map(|s| s.conn.take()).collect();
        if conns.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let limit = self.cfg.timeouts.command;
            rt.spawn(async move {
                for mut c in conns {
                    let _ = c.send(&Command::Quit, limit).await;
                }
            });
        }
    }
}

/// A response that ends the conversation about this command, as the client's reply;
/// anything else at this point is a broken filter.
fn final_reply(r: Response) -> Result<Reply, String> {
    match r {
        Response::Reject => Ok(reject()),
        Response::Tempfail | Response::ConnFail => Ok(tempfail()),
        Response::Shutdown => Ok(Reply::new(421, "4.7.0", "Service unavailable - try again later")),
        Response::ReplyCode(rc) => Ok(reply_code(&rc)),
        other => Err(format!("unexpected {other:?}")),
    }
}

/// One command with its macros; the answer when the filter gives one for this step.
async fn exchange(
    conn: &mut Conn,
    stage: Stage,
    step: Step,
    cmd: &Command<'_>,
    macros: &[(&'static str, String)],
    limit: std::time::Duration,
) -> std::io::Result<Option<Response>> {
    let wanted: Vec<(&str, String)> = match conn.agreed.macros(stage) {
        Some(names) => macros.iter().filter(|(n, _)| names.iter().any(|w| w == n)).cloned().collect(),
        None => macros.to_vec(),
    };
    if !conn.agreed.sends(step) {
        return Ok(None);
    }
    if !wanted.is_empty() {
        conn.queue(&Command::Macro { stage, macros: &wanted });
    }
    conn.queue(cmd);
    if !conn.agreed.replies(step) {
        // Unanswered: goes out with the next command that is.
        return Ok(None);
    }
    conn.answer(limit).await.map(Some)
}

/// Headers, end of headers, body chunks and end of message to one filter; its changes are
/// applied to `msg` and `outcome`.
async fn content(
    conn: &mut Conn,
    t: &Timeouts,
    macros: &[(&'static str, String)],
    msg: &mut Message,
    outcome: &mut Outcome,
    endpoint: &Endpoint,
) -> Result<(), Failure> {
    let broken = |e: std::io::Error| Failure::Broken(e.to_string());
    let lead = conn.agreed.leading_space();
    let mut accepted = false;
    // Each answer before the end: continue goes on, accept ends this filter's part, the rest
    // is final.
    macro_rules! check {
        ($r:expr) => {
            match $r {
                None | Some(Response::Continue) => {}
                Some(Response::Accept) => accepted = true,
                Some(Response::Discard) => {
                    outcome.discard = true;
                    return Ok(());
                }
                Some(Response::Skip) => {}
                Some(other) => return Err(final_reply(other).map_or_else(Failure::Broken, Failure::Reply)),
            }
        };
    }
    for f in &msg.fields {
        if accepted {
            break;
        }
        let value = f.value(lead);
        let r = exchange(
            conn,
            Stage::Eoh,
            Step::Header,
            &Command::Header { name: &f.name, value: &value },
            &[],
            t.content,
        )
        .await
        .map_err(broken)?;
        check!(r);
    }
    if !accepted {
        let r =
            exchange(conn, Stage::Eoh, Step::Eoh, &Command::Eoh, macros, t.content).await.map_err(broken)?;
        check!(r);
    }
    if !accepted {
        for chunk in msg.body.chunks(protocol::MAX_BODY_CHUNK) {
            let r = exchange(conn, Stage::Eom, Step::Body, &Command::Body(chunk), &[], t.content)
                .await
                .map_err(broken)?;
            if matches!(r, Some(Response::Skip)) && conn.agreed.skip() {
                break;
            }
            check!(r);
            if accepted {
                break;
            }
        }
    }
    if accepted {
        // Accepted before the end: nothing more about this message (the next MAIL's ABORT
        // resets the filter).
        return Ok(());
    }
    if !macros.is_empty() {
        conn.queue(&Command::Macro { stage: Stage::Eom, macros });
    }
    conn.queue(&Command::Eob);
    let mut new_body = false;
    loop {
        match conn.answer(t.content).await.map_err(broken)? {
            Response::Modify(m) => {
                if !conn.agreed.allows(m.action()) {
                    return Err(Failure::Broken(format!("{m:?} without negotiating it")));
                }
                tracing::debug!(milter = %endpoint, change = ?m, "milter changes the message");
                if !msg.apply(&m, lead, &mut new_body) {
                    outcome.envelope.push(m);
                }
            }
            Response::Quarantine(reason) => {
                if !conn.agreed.allows(protocol::actions::QUARANTINE) {
                    return Err(Failure::Broken("quarantine without negotiating it".into()));
                }
                tracing::info!(milter = %endpoint, reason = %reason, "milter quarantines the message");
                outcome.quarantine = Some(reason);
            }
            Response::Continue | Response::Accept => break,
            Response::Discard => {
                outcome.discard = true;
                break;
            }
            other => return Err(final_reply(other).map_or_else(Failure::Broken, Failure::Reply)),
        }
    }
    if new_body {
        msg.normalize_body();
    }
    Ok(())
}
