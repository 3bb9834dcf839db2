//! AUTH (RFC 4954) with the mechanisms of `proto::sasl`: the command's checks, the 334
//! challenge / base64 response lines, and the verdict the driver brings back.

use proto::sasl::{self, Exchange, Mechanism, Response, Step};
use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};

use super::{Event, Pending, Phase, Session, bad_sequence, pipelining_reply};
use crate::reply::Reply;

impl Session {
    /// AUTH is advertised and allowed on this connection as it stands.
    pub(super) fn auth_offered(&self) -> bool {
        self.cfg.auth && (self.tls_active || !self.cfg.auth_requires_tls)
    }

    /// `AUTH mechanism [initial-response]`; `mechanism` is smtp-proto's flag for the name.
    pub(super) fn auth(&mut self, mechanism: u64, initial: &str, out: &mut Vec<Event>) {
        if !self.cfg.auth {
            return self.error(bad_sequence("Error: authentication not enabled"), out);
        }
        if !self.auth_offered() {
            return self.error(Reply::new(530, "5.7.0", "Must issue a STARTTLS command first"), out);
        }
        let sequence = match self.phase {
            Phase::Connected => Some("Error: send HELO/EHLO first"),
            _ if self.authenticated => Some("Error: already authenticated"),
            Phase::Mail | Phase::Rcpt => Some("Error: MAIL transaction in progress"),
            Phase::Ready => None,
        };
        if let Some(text) = sequence {
            return self.error(bad_sequence(text), out);
        }
        let mech = match mechanism {
            AUTH_PLAIN => Mechanism::Plain,
            AUTH_LOGIN => Mechanism::Login,
            _ => return self.error(Reply::new(504, "5.5.4", "Unrecognized authentication type"), out),
        };
        // RFC 4954 §4: no initial response means "none"; `=` means an empty one.
        let initial = match initial {
            "" => None,
            text => match decode(text) {
                Ok(data) => Some(data),
                Err(reply) => return self.error(reply, out),
            },
        };
        let (exchange, step) = Exchange::start(mech, initial);
        self.auth_step(exchange, step, out);
    }

    /// One response line of the exchange (LF included); `more`: the client sent more already.
    pub(super) fn auth_line(&mut self, line: &[u8], more: bool, out: &mut Vec<Event>) {
        let Some(mut exchange) = self.auth.take() else { return };
        if more && self.cfg.forbid_unauth_pipelining {
            // The client must wait for each challenge and for the verdict (RFC 4954 §4).
            return self.close(pipelining_reply(), out);
        }
        let data = match std::str::from_utf8(line) {
            Ok(text) => decode(text),
            Err(_) => Err(undecodable()),
        };
        match data {
            Ok(data) => {
                let step = exchange.respond(data);
                self.auth_step(exchange, step, out);
            }
            Err(reply) => self.error(reply, out),
        }
    }

    fn auth_step(&mut self, exchange: Exchange, step: Step, out: &mut Vec<Event>) {
        match step {
            Step::Challenge(c) => {
                self.auth = Some(exchange);
                out.push(Event::Reply(Reply::new(334, "", sasl::encode_challenge(c))));
            }
            Step::Done(creds) => {
                self.pending = Some(Pending::Auth);
                out.push(Event::Auth(creds));
            }
            Step::Fail(why) => self.error(Reply::new(501, "5.5.2", why), out),
        }
    }

    /// The driver's verdict on [`Event::Auth`]; send `reply` yourself. 235 makes the client
    /// authenticated; a 5xx (wrong password) counts as an error, so guessing ends the session
    /// after `max_errors`.
    pub fn auth_result(&mut self, reply: &Reply) {
        debug_assert_eq!(self.pending, Some(Pending::Auth));
        self.pending = None;
        if reply.is_positive() {
            self.authenticated = true;
        } else if reply.code >= 500 {
            self.errors += 1;
        }
    }
}

/// A response (or initial response): `*` cancels, `=` is empty, else base64.
fn decode(text: &str) -> Result<Vec<u8>, Reply> {
    match sasl::decode_response(text) {
        Ok(Response::Data(data)) => Ok(data),
        Ok(Response::Cancel) => Err(Reply::new(501, "5.0.0", "Authentication cancelled")),
        Err(_) => Err(undecodable()),
    }
}

fn undecodable() -> Reply {
    Reply::new(501, "5.5.2", "Cannot decode response")
}
