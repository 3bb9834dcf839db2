//! Bytes from a POP3 client, split into lines the way `mra::server::lines` does, fed to one
//! `mra::pop3::Session`, with every outside decision answered from the input; plus the command
//! parser and the RETR/TOP encoder on the same bytes.
//!
//! Input layout:
//! - byte 0: connection. bit 0: TLS available; bit 1: TLS active; bit 2: plaintext allowed;
//!   bits 3-4: max auth failures (1, 2, 3, 10); bits 5-7: max bad commands (1, 2, 5, 20, ...).
//! - byte 1: world. bits 0-1: login result (0 accepted, 1 rejected, 2 in use, 3 temporary
//!   failure); bit 2: UPDATE fails; bits 3-5: messages in the maildrop (0-7); bit 6: the
//!   encoder is fed in chunks of one byte instead of whole.
//! - the rest: the client's bytes; lines end at LF (a CR before it is dropped), lines over
//!   `MAX_LINE` become `Event::TooLong`.
//!
//! Must hold: never panics; `command::parse` of each line never panics; every `Send` is
//! CRLF-terminated lines with no other CR or LF and starts with `+`, `-` or is part of a
//! multi-line reply; after `Close` or a closed session no further actions; `Retrieve` only for
//! a UID of the maildrop that is not deleted; `Update` lists only UIDs of the maildrop, and
//! `seen` never overlaps `expunge`; the encoder's output has every LF after a CR, no lone `.`
//! line before its end, ends with `.\r\n`, and does not depend on the chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mra::pop3::body::{self, Encoder};
use mra::pop3::command::{self, MAX_LINE};
use mra::pop3::{Action, Config, Entry, Event, LoginResult, Maildrop, Session};

fn check_send(bytes: &[u8]) {
    assert!(bytes.ends_with(b"\r\n"), "{bytes:?}");
    for line in bytes[..bytes.len() - 2].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(!line.contains(&b'\r') && !line.contains(&b'\n'), "{bytes:?}");
    }
    assert!(bytes[0] == b'+' || bytes[0] == b'-', "{bytes:?}");
}

fn check_encoding(message: &[u8], top: Option<u64>, bytewise: bool) {
    let whole = body::encode(message, top);
    if bytewise {
        let mut e = Encoder::new(top);
        let mut out = Vec::new();
        for b in message {
            e.feed(std::slice::from_ref(b), &mut out);
        }
        e.finish(&mut out);
        assert_eq!(out, whole);
    }
    assert!(whole.ends_with(b".\r\n"));
    let body = &whole[..whole.len() - 3];
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' {
            assert_eq!(body.get(i.wrapping_sub(1)), Some(&b'\r'));
        }
    }
    for line in body.split(|&b| b == b'\n') {
        assert_ne!(line, b".\r", "a lone dot inside the message");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (conn, world, input) = (data[0], data[1], &data[2..]);
    let cfg = Config {
        tls_available: conn & 1 != 0,
        tls_active: conn & 2 != 0,
        plaintext_ok: conn & 4 != 0,
        max_auth_failures: [1, 2, 3, 10][(conn >> 3 & 3) as usize],
        max_bad_commands: [1, 2, 5, 20, 3, 4, 10, 100][(conn >> 5) as usize],
    };
    let count = (world >> 3 & 7) as u32;
    let maildrop =
        || Maildrop::new((1..=count).map(|u| Entry::new(u * 3, format!("U{u}"), u as u64 * 10)).collect());
    let mut session = Session::new(cfg);
    let mut current: Option<Maildrop> = None;
    let mut closed = false;

    let mut lines: Vec<Event<'_>> = Vec::new();
    for raw in input.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let _ = command::parse(line);
        lines.push(if line.len() > MAX_LINE { Event::TooLong } else { Event::Line(line) });
    }
    check_encoding(input, None, world & 64 != 0);
    check_encoding(input, Some(u64::from(world & 7)), world & 64 != 0);

    for event in lines {
        let mut queue: std::collections::VecDeque<Action> = session.handle(event).into();
        if closed {
            assert!(queue.is_empty(), "actions after Close");
            continue;
        }
        while let Some(action) = queue.pop_front() {
            assert!(!closed, "an action after Close in the same batch");
            match action {
                Action::Send(bytes) => check_send(&bytes),
                Action::StartTls => session.tls_started(),
                Action::CheckLogin(creds) => {
                    let result = match world & 3 {
                        0 => {
                            current = Some(maildrop());
                            LoginResult::Ok(maildrop())
                        }
                        1 => LoginResult::Rejected,
                        2 => LoginResult::InUse,
                        _ => LoginResult::TempFail,
                    };
                    queue.extend(session.login_result(&creds.login, result));
                }
                Action::Retrieve { uid, ok, .. } => {
                    check_send(&ok);
                    let m = session.maildrop().expect("Retrieve while logged in");
                    let e = m.entries().iter().find(|e| e.uid == uid).expect("Retrieve of a known UID");
                    assert!(!e.deleted, "Retrieve of a deleted message");
                }
                Action::Update { expunge, seen } => {
                    let uids: Vec<u32> =
                        current.as_ref().expect("logged in").entries().iter().map(|e| e.uid).collect();
                    assert!(expunge.iter().chain(&seen).all(|u| uids.contains(u)));
                    assert!(seen.iter().all(|u| !expunge.contains(u)));
                    queue.extend(session.update_result(world & 4 == 0));
                }
                Action::Close => closed = true,
            }
        }
        closed |= session.is_closed();
    }
});
