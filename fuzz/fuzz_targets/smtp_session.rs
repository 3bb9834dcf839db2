//! Bytes from a client, cut into reads of varying sizes, fed to one SMTP-mode `smtp::Session`
//! with every feature on (STARTTLS, AUTH, DSN, pipelining rules, command limits, the bare LF
//! policy), the way `smtp::server::run` drives it; every decision is answered from the input.
//!
//! Input layout:
//! - byte 0: settings. bit 0: the connection starts as TLS; bit 1: AUTH only under TLS; bit 2:
//!   bare LF/CR rejected (else normalised); bit 3: unauthenticated pipelining forbidden; bit 4:
//!   strict HELO; bit 5: VRFY allowed; bits 6-7: max message size (0 = none, 64, 1024, 35 MB).
//! - byte 1: more settings and policy. bits 0-1: max errors (0, 2, 10, 100); bits 2-3: max
//!   commands (0 = none, 1, 5, 50); bit 4: refuse every second spool; bit 5: AUTH answers 454
//!   (temporary) instead of checking; bit 6: refuse odd-length recipients; bit 7: the simulated
//!   STARTTLS handshake fails (the connection closes).
//! - bytes 2-3: four nibbles, used in turn, each choosing the size of the next read.
//! - the rest: the client's bytes. The password `secret` authenticates.
//!
//! Must hold, besides everything `lmtp_session` checks (no panic, progress, well-formed replies,
//! decisions and Close last in their batch, nothing after Close, body events only with an open
//! spool, DataEnd only with a recipient): every DataChunk has CRLF line ends only; Auth only
//! when AUTH is offered on the connection as it stands and the client is not yet authenticated;
//! StartTls only when not yet TLS; after the handshake the session is TLS and not
//! authenticated, and the bytes buffered behind STARTTLS are never fed to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_fuzz::session::{After, check_wire, crlf_only, drive, mail_reply};
use smtp::{BareLf, Config, Event, Reply, Session};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (s0, s1) = (data[0], data[1]);
    let input = &data[4..];

    let cfg = Config {
        tls_active: s0 & 1 != 0,
        starttls: true,
        auth: true,
        auth_requires_tls: s0 & 2 != 0,
        bare_lf: if s0 & 4 != 0 { BareLf::Reject } else { BareLf::Normalize },
        forbid_unauth_pipelining: s0 & 8 != 0,
        strict_helo: s0 & 16 != 0,
        vrfy: s0 & 32 != 0,
        max_message_size: [0, 64, 1024, 35_882_577][usize::from(s0 >> 6)],
        max_errors: [0, 2, 10, 100][usize::from(s1 & 3)],
        max_commands: [0, 1, 5, 50][usize::from(s1 >> 2 & 3)],
        max_recipients: 3,
        ..Config::smtp("mx.fuzz.test")
    };
    let auth_requires_tls = cfg.auth_requires_tls;
    let mut session = Session::new(cfg);
    check_wire(&session.greeting());

    let mut spool_open = false;
    let mut data_starts = 0usize;
    drive(&mut session, [data[2], data[3]], input, |session, event, last| {
        match event {
            Event::Reply(r) => check_wire(&r),
            Event::Hello(_) => {}
            Event::Mail(from) => {
                assert!(last, "events after a pending MAIL in the same batch");
                session.mail_result(&mail_reply(&from.address));
            }
            Event::Rcpt(to) => {
                assert!(last, "events after a pending RCPT in the same batch");
                let refuse = s1 & 64 != 0 && to.address.len() % 2 == 1;
                let r = if refuse { Reply::new(550, "5.1.1", "No") } else { Reply::new(250, "2.1.5", "Ok") };
                session.rcpt_result(&r);
                assert!(session.recipients() <= 3, "more recipients than the limit");
            }
            Event::DataStart => {
                assert!(last, "events after a pending DataStart in the same batch");
                assert!(!spool_open, "DataStart while a spool is open");
                let refuse = s1 & 16 != 0 && data_starts % 2 == 1;
                data_starts += 1;
                let spool = if refuse { Err(Reply::new(452, "4.3.1", "Spool full")) } else { Ok(()) };
                spool_open = !refuse;
                if let Some(r) = session.data_result(spool) {
                    check_wire(&r);
                }
            }
            Event::DataChunk(bytes) => {
                assert!(spool_open, "body bytes without an open spool");
                assert!(!bytes.is_empty(), "empty DataChunk");
                assert_eq!(crlf_only(&bytes), Ok(()), "bare CR/LF in content {bytes:?}");
            }
            Event::DataEnd => {
                assert!(spool_open, "DataEnd without an open spool");
                assert!(session.recipients() >= 1, "DataEnd with no accepted recipient");
                session.transaction_done();
                spool_open = false;
            }
            Event::DataAbort(r) => {
                check_wire(&r);
                spool_open = false;
            }
            Event::Reset => spool_open = false,
            Event::Auth(creds) => {
                assert!(last, "events after a pending AUTH in the same batch");
                assert!(!session.authenticated(), "AUTH while authenticated");
                assert!(session.tls_active() || !auth_requires_tls, "AUTH outside TLS");
                let r = if s1 & 32 != 0 {
                    Reply::new(454, "4.7.0", "Temporary authentication failure")
                } else if creds.password == proto::Secret::from("secret") {
                    Reply::new(235, "2.7.0", "Authentication successful")
                } else {
                    Reply::new(535, "5.7.8", "Error: authentication failed")
                };
                session.auth_result(&r);
                assert_eq!(session.authenticated(), r.code == 235);
            }
            Event::StartTls(r) => {
                assert!(last, "events after STARTTLS in the same batch");
                assert!(!session.tls_active(), "STARTTLS offered under TLS");
                check_wire(&r);
                assert_eq!(r.code, 220);
                spool_open = false;
                if s1 & 128 != 0 {
                    return After::Close;
                }
                session.tls_started();
                assert!(session.tls_active() && !session.authenticated());
                return After::DropBuffered;
            }
            Event::Close(r) => {
                check_wire(&r);
                return After::Close;
            }
        }
        After::Continue
    });
});
