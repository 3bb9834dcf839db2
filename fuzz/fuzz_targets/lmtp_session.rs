//! Bytes from a client, cut into reads of varying sizes, fed to one `smtp::Session` the way
//! `smtp::server::run` drives it, with every decision answered deterministically from the input.
//!
//! Input layout:
//! - byte 0: mode and limits. bit 0: 0 = LMTP, 1 = SMTP; bit 1: SMTPUTF8; bits 2-3: max message
//!   size (0 = none, 64, 1024, 35 MB); bits 4-5: max recipients (1, 3, 100, 1000); bits 6-7:
//!   max errors (0, 2, 10, 100).
//! - byte 1: policy. bits 0-1: spool (0 accept all, 1 refuse every second DataStart, 2 refuse
//!   the first, 3 refuse all); bit 2: refuse even-length instead of odd-length recipients; bit 3:
//!   LMTP per-recipient delivery replies alternate 250 / 452 instead of all 250.
//! - bytes 2-3: four nibbles, used in turn, each choosing the size of the next read.
//! - the rest: the client's bytes.
//!
//! Must hold: never panics (including the session's own debug assertions on pending decisions); no
//! AUTH or STARTTLS event (neither is offered); each `step` either consumes bytes or returns
//! events, and "no events, nothing used" only means "read more" (the loop is bounded by len * 4 +
//! 100 iterations); every reply's wire form is CRLF-terminated lines with no other CR or LF; a
//! decision event (Mail, Rcpt, DataStart) or a Close is the last event of its batch; after Close no
//! further events; body bytes and DataEnd only while an accepted spool is open; DataEnd only with
//! at least one accepted recipient.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailroom_fuzz::session::{After, check_wire, drive, mail_reply};
use smtp::{Config, Event, Mode, Reply, Session};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (cfg_byte, policy) = (data[0], data[1]);
    let input = &data[4..];

    let mode = if cfg_byte & 1 == 0 { Mode::Lmtp } else { Mode::Smtp };
    let cfg = Config {
        mode,
        max_message_size: [0, 64, 1024, 35_882_577][usize::from(cfg_byte >> 2 & 3)],
        max_recipients: [1, 3, 100, 1000][usize::from(cfg_byte >> 4 & 3)],
        max_errors: [0, 2, 10, 100][usize::from(cfg_byte >> 6 & 3)],
        smtputf8: cfg_byte & 2 != 0,
        ..Config::lmtp("mx.fuzz.test")
    };
    let max_recipients = cfg.max_recipients;
    let mut session = Session::new(cfg);
    check_wire(&session.greeting());

    let mut spool_open = false;
    let mut data_starts = 0usize;
    let mut deliveries = 0usize;
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
                let even = to.address.len() % 2 == 0;
                let accept = even != (policy & 4 != 0);
                let r = if accept {
                    Reply::new(250, "2.1.5", "Ok")
                } else {
                    Reply::new(550, "5.1.1", "No such user")
                };
                session.rcpt_result(&r);
                assert!(session.recipients() <= max_recipients, "more recipients than the limit");
            }
            Event::DataStart => {
                assert!(last, "events after a pending DataStart in the same batch");
                assert!(!spool_open, "DataStart while a spool is open");
                let refuse = match policy & 3 {
                    0 => false,
                    1 => data_starts % 2 == 1,
                    2 => data_starts == 0,
                    _ => true,
                };
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
            }
            Event::DataEnd => {
                assert!(spool_open, "DataEnd without an open spool");
                let n = session.recipients();
                assert!(n >= 1, "DataEnd with no accepted recipient");
                let replies = if mode == Mode::Lmtp { n } else { 1 };
                for k in 0..replies {
                    deliveries += 1;
                    let r = if policy & 8 != 0 && (k + deliveries) % 2 == 1 {
                        Reply::new(452, "4.2.2", "Mailbox full")
                    } else {
                        Reply::new(250, "2.0.0", "Delivered")
                    };
                    check_wire(&r);
                }
                session.transaction_done();
                spool_open = false;
            }
            Event::DataAbort(r) => {
                check_wire(&r);
                spool_open = false;
            }
            Event::Reset => spool_open = false,
            Event::Auth(_) | Event::StartTls(_) => panic!("AUTH or STARTTLS when not offered"),
            Event::Close(r) => {
                check_wire(&r);
                return After::Close;
            }
        }
        After::Continue
    });
});
