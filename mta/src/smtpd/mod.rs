//! One SMTP session's decisions: the [`smtp::Handler`] that applies [`crate::policy`], writes
//! the message into the queue while it arrives (or holds it in memory for the filters and the
//! sender checks), and answers 250 only once it is durable.

pub mod anvil;
pub mod dnsbl;
pub mod greylist;
pub mod received;
pub mod sender_auth;

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use authlib::{AuthResult, Authenticator, Directory, Target};
use proto::sasl::Credentials;
use smtp::{Handler, MailFrom, RcptTo, Reply, TlsInfo};
use tokio::sync::mpsc;

use crate::milter::message::Message;
use crate::milter::protocol::Modification;
use crate::milter::{ClientInfo, Filters, Milters};
use crate::policy::{self, Accepted, Client, Networks, Role};
use crate::queue::{Envelope, Incoming, Notify, QueueId, Recipient, Ret, Spool, Transport};
use received::HopCounter;

/// What every session shares.
pub struct Context {
    /// The user directory (recipient and sender checks).
    pub dir: Arc<Directory>,
    /// The queue.
    pub spool: Spool,
    /// Password checks for AUTH.
    pub auth: Authenticator,
    /// mynetworks.
    pub networks: Networks,
    /// Our name.
    pub hostname: String,
    /// `+` in `bob+lists@`, to rebuild a mailbox address with its detail.
    pub delimiter: Option<char>,
    /// Received: headers allowed before a message is a loop.
    pub max_hops: usize,
    /// Check that an authenticated sender owns its address.
    pub sender_login_check: bool,
    /// Newly queued messages, for the queue manager.
    pub queued: mpsc::UnboundedSender<QueueId>,
    /// Mail filters for SMTP clients (smtpd_milters).
    pub smtpd_milters: Option<Arc<Milters>>,
    /// Mail filters for the local submission socket (non_smtpd_milters).
    pub non_smtpd_milters: Option<Arc<Milters>>,
    /// SPF, DKIM, ARC and DMARC checks of port-25 mail, when configured (sender_auth).
    pub sender_auth: Option<sender_auth::Checker>,
    /// Greylisting of port-25 mail, when configured (greylist).
    pub greylist: Option<greylist::Greylist>,
    /// SRS addresses at our srs_domain are reversed at RCPT, when configured.
    pub srs: Option<crate::srs::Srs>,
    /// DNS blocklists and allowlists for port-25 clients, when configured (dnsbl_sites).
    pub dnsbl: Option<Arc<dnsbl::Dnsbl>>,
    /// Per-client connection, message and recipient rate limits.
    pub anvil: anvil::Anvil,
}

/// One session.
pub struct Session {
    ctx: Arc<Context>,
    client: Client,
    /// `[192.0.2.7]` or `local`, for logs and Received:.
    peer: String,
    helo: String,
    tls: Option<TlsInfo>,
    tx: Option<Transaction>,
    /// The client's port, for the milters.
    port: u16,
    /// This session's conversation with the mail filters, if any are configured.
    filters: Option<Filters>,
    /// The DNS lists' verdict on the client, when it gets one.
    dnsbl: Option<dnsbl::Pending>,
}

/// The transaction between MAIL and the end of DATA.
struct Transaction {
    sender: String,
    ret: Option<Ret>,
    envid: Option<String>,
    body_8bit: bool,
    smtputf8: bool,
    requiretls: bool,
    recipients: Vec<Recipient>,
    /// Addresses as the client gave them, for the log and Received: `for`.
    given: Vec<String>,
    incoming: Option<Incoming>,
    hops: HopCounter,
    /// Each accepted RCPT (or a filter's added recipient) and the addresses it became, so that
    /// a filter can delete it.
    expanded: Vec<(String, Vec<String>)>,
    /// With filters or sender checks: the message, kept until they are done.
    held: Option<Held>,
    /// SPF's verdicts, when this transaction gets the sender checks.
    spf: Option<sender_auth::Spf>,
}

/// A message held in memory until the end of DATA.
struct Held {
    /// Its queue id (the filters see it as `i`).
    id: QueueId,
    /// Our Received:, then the message as the client sent it.
    bytes: Vec<u8>,
    /// Where the client's message starts.
    client_start: usize,
}

impl Session {
    /// A session for a client on `client.role`'s listener.
    pub fn new(ctx: Arc<Context>, client: Client) -> Session {
        let peer = client.ip.map(|ip| format!("[{ip}]")).unwrap_or_else(|| "local".into());
        let milters = if client.role == Role::Local { &ctx.non_smtpd_milters } else { &ctx.smtpd_milters };
        let filters = milters.clone().map(Filters::new);
        Session { ctx, client, peer, helo: String::new(), tls: None, tx: None, port: 0, filters, dnsbl: None }
    }

    /// The client's port (for the milters' CONNECT and `{client_port}`).
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// The DNS lists' verdict on the client, looked up since it connected.
    pub fn set_dnsbl(&mut self, pending: dnsbl::Pending) {
        self.dnsbl = Some(pending);
    }

    /// Count `event` against the client's rate limits.
    fn rate_limit(&self, event: anvil::Event) -> Result<(), Reply> {
        match self.client.ip {
            Some(ip) => self.ctx.anvil.count(self.client.role, ip, event),
            None => Ok(()),
        }
    }

    /// What the filters are told about the client.
    fn client_info(&self) -> ClientInfo {
        ClientInfo {
            addr: self.client.ip.map(|ip| std::net::SocketAddr::new(ip, self.port)),
            helo: self.helo.clone(),
            tls: self.tls.as_ref().map(|t| (t.protocol.clone(), t.cipher.clone())),
            login: self.client.login.clone(),
        }
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }

    fn envelope(&self, tx: &Transaction) -> Envelope {
        Envelope {
            id: QueueId::generate(),
            arrival: Self::now(),
            sender: tx.sender.clone(),
            ret: tx.ret,
            envid: tx.envid.clone(),
            body_8bit: tx.body_8bit,
            smtputf8: tx.smtputf8,
            requiretls: tx.requiretls,
            client: self.peer.clone(),
            helo: self.helo.clone(),
            auth: self.client.login.clone(),
            recipients: tx.recipients.clone(),
        }
    }

    /// Where a resolved target is delivered: a mailbox keeps its `+detail` so that the MDA can
    /// file it into the detail folder.
    fn target_address(&self, t: &Target) -> (String, Transport) {
        match t {
            Target::Local { mailbox, detail } => {
                let a = &mailbox.address;
                let addr = match (detail, self.ctx.delimiter) {
                    (Some(d), Some(c)) => format!("{}{c}{d}@{}", a.local(), a.domain()),
                    _ => a.to_string(),
                };
                (addr, Transport::Local)
            }
            Target::Remote(a) => (a.to_string(), Transport::Remote),
        }
    }

    /// AUTH: check the credentials.
    async fn check_auth(&mut self, creds: Credentials) -> Reply {
        let ip = self.client.ip.map(|ip| ip.to_string());
        match self.ctx.auth.check(&creds.login, &creds.password, "smtp", ip.as_deref()).await {
            Ok(AuthResult::Accepted(user)) => {
                tracing::info!(client = %self.peer, user = %user, "authenticated");
                self.client.login = Some(user);
                Reply::new(235, "2.7.0", "Authentication successful")
            }
            Ok(AuthResult::Rejected) => {
                tracing::warn!(
                    "authentication failed user={} service=smtp client={}",
                    proto::sasl::printable(&creds.login),
                    self.peer
                );
                Reply::new(535, "5.7.8", "Error: authentication failed")
            }
            Err(e) => {
                tracing::error!(client = %self.peer, error = %e, "authentication unavailable");
                Reply::new(454, "4.7.0", "Temporary authentication failure")
            }
        }
    }
    /// MAIL FROM: the policy, the filters, then a new transaction.
    async fn check_mail(&mut self, from: &MailFrom<String>) -> Reply {
        match self.start_transaction(from).await {
            Ok(()) => Reply::new(250, "2.1.0", "Ok"),
            Err(r) => r,
        }
    }

    async fn start_transaction(&mut self, from: &MailFrom<String>) -> Result<(), Reply> {
        self.rate_limit(anvil::Event::Message)?;
        if let Some(r) = policy::require_auth(&self.client) {
            return Err(r);
        }
        if self.ctx.sender_login_check
            && let Some(r) = policy::check_sender(&self.ctx.dir, &self.client, &from.address).await
        {
            tracing::info!(client = %self.peer, from = %from.address, reply = %r.to_string().trim_end(), "sender refused");
            return Err(r);
        }
        let spf = match (&self.ctx.sender_auth, self.client.ip) {
            (Some(checker), Some(ip)) if policy::checks_sender_auth(&self.client, &self.ctx.networks) => {
                let spf = checker.spf(ip, &self.helo, &from.address).await.inspect_err(|r| {
                    tracing::info!(client = %self.peer, from = %from.address, reply = %r.to_string().trim_end(), "sender refused");
                })?;
                Some(spf)
            }
            _ => None,
        };
        let info = self.filters.is_some().then(|| self.client_info());
        if let (Some(info), Some(filters)) = (info, self.filters.as_mut()) {
            filters.mail(&info, &from.address, Vec::new()).await?;
        }
        let ret = if from.flags & smtp_proto::MAIL_RET_FULL != 0 {
            Some(Ret::Full)
        } else if from.flags & smtp_proto::MAIL_RET_HDRS != 0 {
            Some(Ret::Headers)
        } else {
            None
        };
        self.tx = Some(Transaction {
            sender: from.address.clone(),
            ret,
            envid: from.env_id.clone(),
            body_8bit: from.flags & (smtp_proto::MAIL_BODY_8BITMIME | smtp_proto::MAIL_BODY_BINARYMIME) != 0,
            smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
            requiretls: from.flags & smtp_proto::MAIL_REQUIRETLS != 0,
            recipients: Vec::new(),
            given: Vec::new(),
            incoming: None,
            hops: HopCounter::default(),
            expanded: Vec::new(),
            held: None,
            spf,
        });
        Ok(())
    }
    /// RCPT's connection-stage checks: a client the DNS lists name is refused unless it has
    /// authenticated (postscreen's enforce), then the recipient rate.
    async fn screen_rcpt(&mut self) -> Result<(), Reply> {
        if self.client.login.is_none()
            && let Some(d) = self.dnsbl.as_mut()
            && let Some(r) = d.at_rcpt().await
        {
            return Err(r);
        }
        self.rate_limit(anvil::Event::Recipient)
    }

    /// RCPT TO: the recipient policy, aliases expanded.
    async fn check_rcpt(&mut self, to: &RcptTo<String>) -> Reply {
        if let Err(r) = self.screen_rcpt().await {
            tracing::info!(client = %self.peer, to = %to.address, helo = %self.helo, reply = %r.to_string().trim_end(), "recipient refused");
            return r;
        }
        let accepted = match self.ctx.srs.as_ref().filter(|srs| srs.is_ours(&to.address)) {
            Some(srs) => self.srs_recipient(srs, &to.address).await,
            None => {
                policy::check_recipient(&self.ctx.dir, &self.client, &self.ctx.networks, &to.address).await
            }
        };
        let targets = match accepted {
            Ok(Accepted::Local(targets)) => targets,
            Ok(Accepted::Remote(addr)) => vec![Target::Remote(addr)],
            Err(r) => {
                tracing::info!(client = %self.peer, to = %to.address, reply = %r.to_string().trim_end(), "recipient refused");
                return r;
            }
        };
        let notify = notify_of(to.flags);
        let orcpt = Some(match &to.orcpt {
            Some(o) if o.contains(';') => o.clone(),
            Some(o) => format!("rfc822;{o}"),
            None => format!("rfc822;{}", to.address),
        });
        let resolved: Vec<(String, Transport)> = targets.iter().map(|t| self.target_address(t)).collect();
        if self.tx.is_none() {
            return Reply::new(503, "5.5.1", "Error: need MAIL command");
        }
        if let Err(r) = self.greylist(&to.address).await {
            return r;
        }
        let info = self.filters.is_some().then(|| self.client_info());
        if let (Some(info), Some(filters)) = (info, self.filters.as_mut()) {
            let local = resolved.iter().all(|(_, t)| *t == Transport::Local);
            if let Err(r) = filters.rcpt(&info, &to.address, local).await {
                return r;
            }
        }
        let tx = self.tx.as_mut().expect("checked above");
        add_recipients(tx, &to.address, resolved, orcpt, notify);
        tx.given.push(to.address.clone());
        Reply::new(250, "2.1.5", "Ok")
    }

    /// Greylisting of port-25 mail from strangers, unless the DNS allowlists vouch for the
    /// client: as postscreen lets an allowlisted client skip its later tests, it skips this one.
    async fn greylist(&mut self, rcpt: &str) -> Result<(), Reply> {
        let ctx = self.ctx.clone();
        let (Some(greylist), Some(ip)) = (&ctx.greylist, self.client.ip) else { return Ok(()) };
        if !policy::checks_sender_auth(&self.client, &ctx.networks) {
            return Ok(());
        }
        let sender = &self.tx.as_ref().expect("in a transaction").sender;
        if let Some(d) = self.dnsbl.as_mut()
            && d.allowlisted().await
        {
            greylist.skip_allowlisted(ip, sender, rcpt);
            return Ok(());
        }
        greylist.check(&ctx.dir, ip, sender, rcpt, Self::now() as i64).await
    }

    /// A recipient at our SRS domain: the address it stands for, routed as the local socket's
    /// mail would be (it may go anywhere: it is where the bounced mail came from). A bad hash
    /// or an old stamp is 550 5.1.1, as postsrsd behind Postfix leaves an unknown user.
    async fn srs_recipient(&self, srs: &crate::srs::Srs, rcpt: &str) -> Result<Accepted, Reply> {
        let original = srs.reverse(rcpt, Self::now()).map_err(|why| {
            tracing::info!(client = %self.peer, to = %rcpt, "srs: not reversed: {why}");
            Reply::new(550, "5.1.1", format!("<{rcpt}>: Recipient address rejected: User unknown ({why})"))
        })?;
        tracing::info!(client = %self.peer, to = %rcpt, original = %original, "srs: reversed");
        let trusted = Client { role: Role::Local, ip: None, login: None };
        policy::check_recipient(&self.ctx.dir, &trusted, &self.ctx.networks, &original).await
    }

    /// A filter's change of sender or recipients.
    async fn change_envelope(&mut self, m: &Modification) {
        let unbracket = |a: &str| a.trim().trim_start_matches('<').trim_end_matches('>').to_string();
        match m {
            Modification::ChangeFrom { address, .. } => {
                let tx = self.tx.as_mut().expect("in a transaction");
                tracing::info!(client = %self.peer, from = %tx.sender, to = %unbracket(address), "milter changes the sender");
                tx.sender = unbracket(address);
            }
            Modification::AddRcpt { address, .. } => {
                let address = unbracket(address);
                // Trusted like the local submission socket: a filter may add any recipient.
                let trusted = Client { role: Role::Local, ip: None, login: None };
                let targets = match policy::check_recipient(
                    &self.ctx.dir,
                    &trusted,
                    &self.ctx.networks,
                    &address,
                )
                .await
                {
                    Ok(Accepted::Local(targets)) => targets,
                    Ok(Accepted::Remote(addr)) => vec![Target::Remote(addr)],
                    Err(r) => {
                        tracing::warn!(client = %self.peer, to = %address, reply = %r.to_string().trim_end(), "milter added a recipient we cannot take");
                        return;
                    }
                };
                let resolved: Vec<(String, Transport)> =
                    targets.iter().map(|t| self.target_address(t)).collect();
                tracing::info!(client = %self.peer, to = %address, "milter adds a recipient");
                let tx = self.tx.as_mut().expect("in a transaction");
                let orcpt = Some(format!("rfc822;{address}"));
                add_recipients(tx, &address, resolved, orcpt, Notify::DEFAULT);
            }
            Modification::DelRcpt(address) => {
                let address = unbracket(address);
                tracing::info!(client = %self.peer, to = %address, "milter deletes a recipient");
                let tx = self.tx.as_mut().expect("in a transaction");
                tx.expanded.retain(|(given, _)| !given.eq_ignore_ascii_case(&address));
                let expanded = &tx.expanded;
                tx.recipients.retain(|r| expanded.iter().any(|(_, to)| to.contains(&r.address)));
            }
            _ => {}
        }
    }

    /// The end of DATA for a held message: the sender checks' verdict on top of it, then the
    /// filters' turn, then the queue file. `Ok(None)`: discarded.
    async fn finish_held(&mut self, held: Held) -> Result<Option<Incoming>, Reply> {
        let Held { id, bytes, client_start } = held;
        let tx = self.tx.as_ref().expect("in a transaction");
        let msg = match (&self.ctx.sender_auth, &tx.spf) {
            (Some(checker), Some(spf)) => {
                let mut verdict = checker.message(spf, &bytes[client_start..]).await;
                if let Some(r) = verdict.reject.take() {
                    let from = tx.sender.escape_debug();
                    tracing::info!(
                        "{id}: reject: client={}, from=<{from}>: {}",
                        self.peer,
                        r.to_string().trim_end()
                    );
                    return Err(r);
                }
                let mut msg = Message::parse(&bytes);
                let removed = checker.mark(&mut msg, &verdict);
                if removed > 0 {
                    tracing::info!(
                        "{id}: client={}, removed {removed} header(s) claiming our authserv-id",
                        self.peer
                    );
                }
                if let Some(why) = &verdict.quarantine {
                    tracing::info!("{id}: client={}, marked for quarantine: {why}", self.peer);
                }
                msg
            }
            _ if self.filters.is_some() => Message::parse(&bytes),
            _ => return self.queue_file(id, &bytes).map(Some),
        };
        drop(bytes);
        if self.filters.is_some() {
            return self.filter_message(id, msg).await;
        }
        self.queue_file(id, &msg.to_bytes()).map(Some)
    }

    /// The queue file of a held message, under the id it was given at DATA.
    fn queue_file(&self, id: QueueId, bytes: &[u8]) -> Result<Incoming, Reply> {
        let mut env = self.envelope(self.tx.as_ref().expect("in a transaction"));
        env.id = id;
        let mut incoming = self.ctx.spool.create_as(env).map_err(|e| {
            tracing::error!(error = %e, "cannot create queue file");
            storage_reply(&e)
        })?;
        incoming.write(bytes).map_err(|e| storage_reply(&e))?;
        Ok(incoming)
    }

    /// The filters' turn at the end of DATA: their verdict, then their changes in the queue
    /// file. `Ok(None)`: discarded.
    async fn filter_message(&mut self, id: QueueId, mut msg: Message) -> Result<Option<Incoming>, Reply> {
        let info = self.client_info();
        let filters = self.filters.as_mut().expect("filtered messages have filters");
        let outcome = filters.message(&info, id.as_str(), &mut msg).await?;
        if outcome.discard {
            tracing::info!("{id}: milter-discard: client={}, message discarded", self.peer);
            return Ok(None);
        }
        for m in &outcome.envelope {
            self.change_envelope(m).await;
        }
        let tx = self.tx.as_ref().expect("in a transaction");
        if tx.recipients.is_empty() {
            tracing::info!(
                "{id}: client={}, the milters removed every recipient: message discarded",
                self.peer
            );
            return Ok(None);
        }
        let mut incoming = self.queue_file(id, &msg.to_bytes())?;
        if let Some(reason) = outcome.quarantine {
            tracing::info!("{}: milter-hold: client={}, {reason}", incoming.id(), self.peer);
            incoming.hold();
        }
        Ok(Some(incoming))
    }

    /// The end of DATA: the hop count, then the queue commit; 250 only once it is durable.
    async fn finish_data(&mut self) -> Vec<Reply> {
        let Some(tx) = self.tx.as_mut() else {
            return vec![Reply::new(503, "5.5.1", "Error: need MAIL command")];
        };
        if tx.hops.hops() > self.ctx.max_hops {
            tracing::warn!(client = %self.peer, hops = tx.hops.hops(), "mail loop: too many Received: headers");
            self.tx = None;
            return vec![Reply::new(554, "5.4.6", "Too many hops")];
        }
        let incoming = match tx.held.take() {
            Some(held) => {
                let id = held.id.clone();
                match self.finish_held(held).await {
                    Ok(Some(incoming)) => incoming,
                    Ok(None) => {
                        self.tx = None;
                        return vec![Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))];
                    }
                    Err(r) => {
                        self.tx = None;
                        return vec![r];
                    }
                }
            }
            None => tx.incoming.take().expect("data_start opened the queue file"),
        };
        let tx = self.tx.take().expect("still in the transaction");
        let size = incoming.size();
        match self.ctx.spool.commit(incoming).await {
            Ok(id) => {
                tracing::info!(
                    "{id}: client={}, helo={}, sasl_username={}, from=<{}>, size={size}, nrcpt={} (queue active)",
                    self.peer,
                    self.helo.escape_debug(),
                    self.client.login.as_deref().unwrap_or(""),
                    tx.sender.escape_debug(),
                    tx.recipients.len()
                );
                let _ = self.ctx.queued.send(id.clone());
                crate::metrics::queued(self.client.role);
                vec![Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))]
            }
            Err(e) => {
                tracing::error!(client = %self.peer, error = %e, "queue commit failed");
                vec![storage_reply(&e)]
            }
        }
    }
}

/// A spool write error as the client sees it: never 5xx.
fn storage_reply(e: &io::Error) -> Reply {
    if e.raw_os_error() == Some(nix::libc::ENOSPC) {
        Reply::new(452, "4.3.1", "Insufficient system storage")
    } else {
        Reply::new(451, "4.3.0", "Error: queue file write error")
    }
}

impl Handler for Session {
    fn hello(&mut self, name: &str) {
        self.helo = name.to_string();
    }

    fn tls_established(&mut self, info: &TlsInfo) {
        daemon::metrics::tls_handshake(true);
        self.tls = Some(info.clone());
    }

    fn tls_failed(&mut self) {
        daemon::metrics::tls_handshake(false);
    }

    async fn auth(&mut self, creds: Credentials) -> Reply {
        let reply = self.check_auth(creds).await;
        crate::metrics::replied("auth", reply.code);
        reply
    }

    async fn mail(&mut self, from: &MailFrom<String>) -> Reply {
        let reply = self.check_mail(from).await;
        crate::metrics::replied("mail", reply.code);
        reply
    }

    async fn rcpt(&mut self, to: &RcptTo<String>) -> Reply {
        let reply = self.check_rcpt(to).await;
        crate::metrics::replied("rcpt", reply.code);
        reply
    }

    async fn data_start(&mut self) -> Result<(), Reply> {
        let Some(tx) = self.tx.as_ref() else {
            return Err(Reply::new(503, "5.5.1", "Error: need MAIL command"));
        };
        if self.filters.is_some() || tx.spf.is_some() {
            return self.held_data_start().await;
        }
        let env = self.envelope(tx);
        let mut incoming = self.ctx.spool.create(env).map_err(|e| {
            tracing::error!(error = %e, "cannot create queue file");
            storage_reply(&e)
        })?;
        let tls = self.tls.as_ref().map(|t| (t.protocol.as_str(), t.cipher.as_str()));
        let single = (tx.given.len() == 1).then(|| tx.given[0].as_str());
        let trace = received::Trace {
            helo: &self.helo,
            client: &self.peer,
            by: &self.ctx.hostname,
            tls,
            login: self.client.login.as_deref(),
            id: incoming.id().as_str(),
            single_rcpt: single,
            now: Self::now() as i64,
        };
        incoming.write(received::header(&trace).as_bytes()).map_err(|e| storage_reply(&e))?;
        self.tx.as_mut().expect("checked above").incoming = Some(incoming);
        Ok(())
    }

    async fn data_chunk(&mut self, chunk: &[u8]) -> Result<(), Reply> {
        let tx = self.tx.as_mut().expect("data without a transaction");
        tx.hops.feed(chunk);
        if let Some(held) = tx.held.as_mut() {
            held.bytes.extend_from_slice(chunk);
            return Ok(());
        }
        let incoming = tx.incoming.as_mut().expect("data_start opened the queue file");
        incoming.write(chunk).map_err(|e| {
            tracing::error!(error = %e, "queue file write failed");
            storage_reply(&e)
        })
    }

    async fn data_end(&mut self) -> Vec<Reply> {
        let replies = self.finish_data().await;
        for r in &replies {
            crate::metrics::replied("data", r.code);
        }
        replies
    }

    fn reset(&mut self) {
        // Dropping an uncommitted Incoming removes its file.
        self.tx = None;
        if let Some(f) = self.filters.as_mut() {
            f.reset();
        }
    }
}

impl Session {
    /// DATA with filters or sender checks: the filters answer before our 354; the message is
    /// kept in memory, behind our Received:, until the end of DATA.
    async fn held_data_start(&mut self) -> Result<(), Reply> {
        let id = QueueId::generate();
        let info = self.filters.is_some().then(|| self.client_info());
        if let (Some(info), Some(filters)) = (info, self.filters.as_mut()) {
            filters.data(&info, id.as_str()).await?;
        }
        let tx = self.tx.as_ref().expect("checked");
        let tls = self.tls.as_ref().map(|t| (t.protocol.as_str(), t.cipher.as_str()));
        let single = (tx.given.len() == 1).then(|| tx.given[0].as_str());
        let trace = received::Trace {
            helo: &self.helo,
            client: &self.peer,
            by: &self.ctx.hostname,
            tls,
            login: self.client.login.as_deref(),
            id: id.as_str(),
            single_rcpt: single,
            now: Self::now() as i64,
        };
        let bytes = received::header(&trace).into_bytes();
        let client_start = bytes.len();
        self.tx.as_mut().expect("checked").held = Some(Held { id, bytes, client_start });
        Ok(())
    }
}

/// Adds what one RCPT (or a filter's added recipient) resolved to.
fn add_recipients(
    tx: &mut Transaction,
    given: &str,
    resolved: Vec<(String, Transport)>,
    orcpt: Option<String>,
    notify: Notify,
) {
    let mut to = Vec::new();
    for (address, transport) in resolved {
        to.push(address.clone());
        // Two aliases for one mailbox deliver once, as Postfix's duplicate filter does.
        if !tx.recipients.iter().any(|r| r.address == address) {
            tx.recipients.push(Recipient { address, transport, orcpt: orcpt.clone(), notify });
        }
    }
    tx.expanded.push((given.to_string(), to));
}

/// RFC 3461 NOTIFY from smtp-proto's flags.
fn notify_of(flags: u64) -> Notify {
    use smtp_proto::{RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS};
    let any = RCPT_NOTIFY_SUCCESS | RCPT_NOTIFY_FAILURE | RCPT_NOTIFY_DELAY | RCPT_NOTIFY_NEVER;
    if flags & any == 0 {
        return Notify::DEFAULT;
    }
    Notify {
        success: flags & RCPT_NOTIFY_SUCCESS != 0,
        failure: flags & RCPT_NOTIFY_FAILURE != 0,
        delay: flags & RCPT_NOTIFY_DELAY != 0,
        explicit: true,
    }
}
