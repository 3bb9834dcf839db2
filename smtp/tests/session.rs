//! C:/S: transcripts through the no-I/O session, in lockstep: consecutive `C:` lines are one
//! client write (a pipelined group, fed to the session as one buffer, as the driver does); the
//! `S:` lines after them are exactly what the server must answer before the next write.
//! Decisions come from a scripted handler: `bad…` senders and recipients are refused, `bob`
//! with password `secret` authenticates. STARTTLS is simulated: the rest of the write is
//! dropped (as the driver does) and the handshake "succeeds". A client line ending in `\c`
//! is sent without its CRLF.

use smtp::{BareLf, Config, Event, Mode, Reply, Session};

#[derive(Default, Debug)]
struct Outcome {
    delivered: Vec<Vec<u8>>,
    logins: Vec<String>,
    closed: bool,
}

/// `\r`, `\n`, `\0` and `\\` escapes in a client line.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match it.next() {
            Some(b'r') => b'\r',
            Some(b'n') => b'\n',
            Some(b'0') => 0,
            Some(other) => other,
            None => b'\\',
        });
    }
    out
}

/// Feed one client write; returns what the server wrote.
fn feed(s: &mut Session, input: &[u8], o: &mut Outcome, body: &mut Vec<u8>) -> String {
    let mut wire = String::new();
    let mut at = 0;
    while !o.closed {
        let (used, events) = s.step(&input[at..]);
        at += used;
        if used == 0 && events.is_empty() {
            break;
        }
        for e in events {
            let reply = match e {
                Event::Reply(r) | Event::DataAbort(r) => Some(r),
                Event::Close(r) => {
                    o.closed = true;
                    Some(r)
                }
                Event::Hello(_) | Event::Reset => None,
                Event::DataChunk(c) => {
                    body.extend(c);
                    None
                }
                Event::Mail(m) => {
                    let r = if m.address.starts_with("bad") { refuse("5.1.0") } else { ok("2.1.0") };
                    s.mail_result(&r);
                    Some(r)
                }
                Event::Rcpt(r) => {
                    let r = if r.address.starts_with("bad") { refuse("5.1.1") } else { ok("2.1.5") };
                    s.rcpt_result(&r);
                    Some(r)
                }
                Event::DataStart => {
                    body.clear();
                    s.data_result(Ok(()))
                }
                Event::DataEnd => {
                    o.delivered.push(std::mem::take(body));
                    let n = if s.config().mode == Mode::Lmtp { s.recipients() } else { 1 };
                    for _ in 0..n {
                        wire.push_str(&ok("2.0.0").to_string());
                    }
                    s.transaction_done();
                    None
                }
                Event::Auth(c) => {
                    let good = c.login == "bob" && c.password == proto::Secret::from("secret");
                    o.logins.push(c.login);
                    let r = if good {
                        Reply::new(235, "2.7.0", "Authentication successful")
                    } else {
                        Reply::new(535, "5.7.8", "Error: authentication failed")
                    };
                    s.auth_result(&r);
                    Some(r)
                }
                Event::StartTls(r) => {
                    wire.push_str(&r.to_string());
                    s.tls_started();
                    // What the client pipelined after STARTTLS is dropped, as the driver does.
                    at = input.len();
                    None
                }
            };
            if let Some(r) = reply {
                wire.push_str(&r.to_string());
            }
        }
    }
    wire
}

fn ok(enhanced: &'static str) -> Reply {
    Reply::new(250, enhanced, "Ok")
}

fn refuse(enhanced: &'static str) -> Reply {
    Reply::new(550, enhanced, "Refused")
}

/// Run `script` on a session with `cfg`; panics with the transcript position on a mismatch.
fn transcript(cfg: Config, script: &str) -> Outcome {
    let mut s = Session::new(cfg);
    let mut o = Outcome::default();
    let mut body = Vec::new();
    let mut lines = script.lines().map(str::trim).filter(|l| !l.is_empty()).peekable();
    let mut expect = String::new();
    let mut got = s.greeting().to_string();
    loop {
        while let Some(l) = lines.next_if(|l| l.starts_with("S:")) {
            expect.push_str(l[2..].trim_start());
            expect.push_str("\r\n");
        }
        assert_eq!(got, expect, "server output differs before client line {:?}", lines.peek());
        expect.clear();
        let mut write = Vec::new();
        while let Some(l) = lines.next_if(|l| l.starts_with("C:")) {
            let l = l[2..].strip_prefix(' ').unwrap_or(&l[2..]);
            // A trailing `\c` sends the line without CRLF (BDAT chunks).
            match l.strip_suffix("\\c") {
                Some(raw) => write.extend(unescape(raw)),
                None => {
                    write.extend(unescape(l));
                    write.extend(b"\r\n");
                }
            }
        }
        if write.is_empty() {
            assert!(lines.peek().is_none(), "script line is neither C: nor S:: {:?}", lines.peek());
            return o;
        }
        // `334 ` (an empty challenge) ends in a space that script lines cannot show.
        got = feed(&mut s, &write, &mut o, &mut body).replace(" \r\n", "\r\n");
    }
}

/// ESMTP with everything on, on a connection that is not TLS yet.
fn smtp() -> Config {
    Config { starttls: true, auth: true, max_message_size: 1000, max_errors: 5, ..Config::smtp("mx.test") }
}

fn tls() -> Config {
    Config { tls_active: true, ..smtp() }
}

#[test]
fn ehlo_keywords_before_and_after_starttls() {
    let o = transcript(
        smtp(),
        r"
        S: 220 mx.test ESMTP mailroom
        C: EHLO client.test
        S: 250-mx.test Hello client.test
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE 1000
        S: 250-CHUNKING
        S: 250-SMTPUTF8
        S: 250-DSN
        S: 250 STARTTLS
        C: AUTH PLAIN AGJvYgBzZWNyZXQ=
        S: 530 5.7.0 Must issue a STARTTLS command first
        C: MAIL FROM:<a@x.test>
        S: 250 2.1.0 Ok
        C: STARTTLS
        S: 220 2.0.0 Ready to start TLS
        C: MAIL FROM:<a@x.test>
        S: 503 5.5.1 Send HELO/EHLO first
        C: EHLO client.test
        S: 250-mx.test Hello client.test
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE 1000
        S: 250-CHUNKING
        S: 250-SMTPUTF8
        S: 250-DSN
        S: 250 AUTH PLAIN LOGIN
        C: STARTTLS
        S: 554 5.5.1 Error: TLS already active
        C: HELO client.test
        S: 250 mx.test Hello client.test
        C: QUIT
        S: 221 2.0.0 Bye
        ",
    );
    assert!(o.closed);
}

#[test]
fn starttls_drops_what_was_pipelined_after_it() {
    // CVE-2011-0411: the MAIL sent in the clear with STARTTLS must not run inside TLS.
    let cfg = Config { forbid_unauth_pipelining: false, ..smtp() };
    transcript(
        cfg,
        r"
        S: 220 mx.test ESMTP mailroom
        C: EHLO c
        S: 250-mx.test Hello c
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE 1000
        S: 250-CHUNKING
        S: 250-SMTPUTF8
        S: 250-DSN
        S: 250 STARTTLS
        C: STARTTLS
        C: MAIL FROM:<evil@x.test>
        S: 220 2.0.0 Ready to start TLS
        C: RCPT TO:<b@y.test>
        S: 503 5.5.1 Need MAIL before RCPT
        ",
    );
    let cfg = Config { starttls: false, ..smtp() };
    transcript(
        cfg,
        r"
        S: 220 mx.test ESMTP mailroom
        C: STARTTLS
        S: 502 5.5.1 Error: command not implemented
        ",
    );
}

#[test]
fn auth_plain_and_login_exchanges() {
    let o = transcript(
        Config { max_errors: 20, ..tls() },
        r"
        S: 220 mx.test ESMTP mailroom
        C: AUTH PLAIN AGJvYgBzZWNyZXQ=
        S: 503 5.5.1 Error: send HELO/EHLO first
        C: EHLO c
        S: 250-mx.test Hello c
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE 1000
        S: 250-CHUNKING
        S: 250-SMTPUTF8
        S: 250-DSN
        S: 250 AUTH PLAIN LOGIN
        C: AUTH CRAM-MD5
        S: 504 5.5.4 Unrecognized authentication type
        C: AUTH LOGIN
        S: 334 VXNlcm5hbWU6
        C: Ym9i
        S: 334 UGFzc3dvcmQ6
        C: d3Jvbmc=
        S: 535 5.7.8 Error: authentication failed
        C: AUTH PLAIN
        S: 334
        C: *
        S: 501 5.0.0 Authentication cancelled
        C: AUTH PLAIN !!!!
        S: 501 5.5.2 Cannot decode response
        C: AUTH PLAIN =
        S: 501 5.5.2 Invalid PLAIN response
        C: AUTH LOGIN Ym9i
        S: 334 UGFzc3dvcmQ6
        C: c2VjcmV0
        S: 235 2.7.0 Authentication successful
        C: AUTH PLAIN AGJvYgBzZWNyZXQ=
        S: 503 5.5.1 Error: already authenticated
        ",
    );
    assert_eq!(o.logins, ["bob", "bob"]);
    // In a transaction, and when not offered at all.
    transcript(
        tls(),
        r"
        S: 220 mx.test ESMTP mailroom
        C: HELO c
        S: 250 mx.test Hello c
        C: MAIL FROM:<a@x.test>
        S: 250 2.1.0 Ok
        C: AUTH PLAIN AGJvYgBzZWNyZXQ=
        S: 503 5.5.1 Error: MAIL transaction in progress
        ",
    );
    transcript(
        Config::lmtp("mx.test"),
        r"
        S: 220 mx.test LMTP mailroom
        C: LHLO c
        S: 250-mx.test Hello c
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE
        S: 250-CHUNKING
        S: 250 SMTPUTF8
        C: AUTH PLAIN AGJvYgBzZWNyZXQ=
        S: 503 5.5.1 Error: authentication not enabled
        ",
    );
}

#[test]
fn auth_response_limits_and_failures_count_as_errors() {
    let long = "A".repeat(12289);
    let script = format!(
        "S: 220 mx.test ESMTP mailroom
        C: HELO c
        S: 250 mx.test Hello c
        C: AUTH LOGIN
        S: 334 VXNlcm5hbWU6
        C: {long}
        S: 500 5.5.6 Authentication Exchange line is too long
        C: AUTH PLAIN AGJvYgB4
        S: 535 5.7.8 Error: authentication failed
        C: AUTH PLAIN AGJvYgB5
        S: 535 5.7.8 Error: authentication failed
        C: AUTH PLAIN AGJvYgB6
        S: 535 5.7.8 Error: authentication failed
        C: NOOP
        S: 421 4.7.0 Too many errors, closing connection
        "
    );
    let o = transcript(Config { max_errors: 3, ..tls() }, &script);
    assert!(o.closed);
}

#[test]
fn unauthenticated_pipelining_after_a_group_ender_closes() {
    let ehlo = "S: 250-mx.test Hello c
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE 1000
        S: 250-CHUNKING
        S: 250-SMTPUTF8
        S: 250-DSN
        S: 250 AUTH PLAIN LOGIN";
    // Content sent together with DATA, before the 354: the smuggling setup.
    let o = transcript(
        tls(),
        &format!(
            "S: 220 mx.test ESMTP mailroom
            C: EHLO c
            {ehlo}
            C: MAIL FROM:<a@x.test>
            C: RCPT TO:<b@y.test>
            C: DATA
            C: Subject: x
            C: .
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 554 5.5.0 Error: I can break rules, too. Goodbye.
            "
        ),
    );
    assert!(o.closed && o.delivered.is_empty());
    transcript(
        tls(),
        "S: 220 mx.test ESMTP mailroom
        C: EHLO c
        C: MAIL FROM:<a@x.test>
        S: 554 5.5.0 Error: I can break rules, too. Goodbye.
        ",
    );
    transcript(
        tls(),
        "S: 220 mx.test ESMTP mailroom
        C: HELO c
        S: 250 mx.test Hello c
        C: AUTH LOGIN
        C: Ym9i
        S: 554 5.5.0 Error: I can break rules, too. Goodbye.
        ",
    );
    // A group ending in DATA is fine; after AUTH anything goes; with the check off too.
    let o = transcript(
        tls(),
        &format!(
            "S: 220 mx.test ESMTP mailroom
            C: EHLO c
            {ehlo}
            C: AUTH PLAIN AGJvYgBzZWNyZXQ=
            C: MAIL FROM:<a@x.test>
            C: RCPT TO:<b@y.test>
            C: DATA
            C: hi
            C: .
            C: NOOP
            S: 235 2.7.0 Authentication successful
            S: 250 2.1.0 Ok
            S: 250 2.1.5 Ok
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 250 2.0.0 Ok
            S: 250 2.0.0 Ok
            "
        ),
    );
    assert_eq!(o.delivered, [b"hi\r\n"]);
    transcript(
        Config { forbid_unauth_pipelining: false, ..tls() },
        "S: 220 mx.test ESMTP mailroom
        C: HELO c
        C: NOOP
        S: 250 mx.test Hello c
        S: 250 2.0.0 Ok
        ",
    );
}

#[test]
fn bare_lf_and_cr_are_normalised_by_default() {
    let o = transcript(
        tls(),
        r"
        S: 220 mx.test ESMTP mailroom
        C: HELO c
        S: 250 mx.test Hello c
        C: MAIL FROM:<a@x.test>
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@y.test>
        S: 250 2.1.5 Ok
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: a\n.\nMAIL FROM:<evil@x.test>\nb\rc
        C: .
        S: 250 2.0.0 Ok
        C: MAIL FROM:<a@x.test>
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@y.test>
        S: 250 2.1.5 Ok
        C: BDAT 3\r\nx\r\r\c
        S: 250 2.0.0 3 octets received
        C: BDAT 4 LAST\r\n\ny\nz\c
        S: 250 2.0.0 Ok
        ",
    );
    assert_eq!(o.delivered, [&b"a\r\n\r\nMAIL FROM:<evil@x.test>\r\nb c\r\n"[..], b"x \r\ny\r\nz"]);
}

#[test]
fn bare_lf_and_cr_rejected_after_the_real_end() {
    let cfg = Config { bare_lf: BareLf::Reject, ..tls() };
    let o = transcript(
        cfg,
        r"
        S: 220 mx.test ESMTP mailroom
        C: HELO c
        S: 250 mx.test Hello c
        C: MAIL FROM:<a@x.test>
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@y.test>
        S: 250 2.1.5 Ok
        C: DATA
        S: 354 End data with <CR><LF>.<CR><LF>
        C: a\n.\nMAIL FROM:<evil@x.test>
        C: .
        S: 550 5.5.2 Error: bare <LF> received
        C: MAIL FROM:<a@x.test>
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@y.test>
        S: 250 2.1.5 Ok
        C: BDAT 2\r\nx\r\c
        S: 250 2.0.0 2 octets received
        C: BDAT 1\r\n\n\c
        S: 250 2.0.0 3 octets received
        C: BDAT 2 LAST\r\ny\r\c
        S: 550 5.5.2 Error: bare <CR> received
        C: NOOP\n\c
        S: 550 5.5.2 Error: bare <LF> received
        C: QUIT
        S: 221 2.0.0 Bye
        ",
    );
    assert!(o.delivered.is_empty());
}

#[test]
fn line_limits_and_command_limits() {
    let fits = format!("NOOP {}", "x".repeat(4096 - 7));
    let over = format!("NOOP {}", "x".repeat(4096 - 6));
    transcript(
        Config { max_commands: 4, ..tls() },
        &format!(
            "S: 220 mx.test ESMTP mailroom
            C: {fits}
            S: 250 2.0.0 Ok
            C: {over}
            S: 500 5.5.2 Line too long
            C: {}
            S: 500 5.5.2 Line too long
            C: NOOP
            S: 250 2.0.0 Ok
            C: NOOP
            S: 421 4.7.0 Too many commands, closing connection
            ",
            "y".repeat(100_000)
        ),
    );
}

#[test]
fn helo_vrfy_and_parameter_policies() {
    let cfg = Config { strict_helo: true, vrfy: false, dsn: false, smtputf8: false, ..tls() };
    transcript(
        cfg,
        "S: 220 mx.test ESMTP mailroom
        C: HELO -bad-.test
        S: 501 5.5.2 Invalid HELO name
        C: HELO [IPv6:2001:db8::1]
        S: 250 mx.test Hello [IPv6:2001:db8::1]
        C: VRFY bob
        S: 502 5.5.1 VRFY command is disabled
        C: MAIL FROM:<a@x.test> RET=HDRS
        S: 555 5.5.4 Unsupported parameter RET/ENVID
        C: MAIL FROM:<a@x.test> SMTPUTF8
        S: 555 5.5.4 Unsupported parameter SMTPUTF8
        C: MAIL FROM:<a@x.test> AUTH=<>
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@y.test> NOTIFY=NEVER
        S: 555 5.5.4 Unsupported parameter NOTIFY/ORCPT
        ",
    );
    transcript(
        tls(),
        "S: 220 mx.test ESMTP mailroom
        C: HELO -bad-.test
        S: 250 mx.test Hello -bad-.test
        C: VRFY bob
        S: 252 2.5.0 Cannot VRFY user
        C: MAIL FROM:<a@x.test> RET=HDRS ENVID=x SMTPUTF8 BODY=8BITMIME
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@y.test
        S: 250 2.1.5 Ok
        C: RSET
        S: 250 2.0.0 Ok
        C: MAIL FROM:<a@x.test> BODY=BINARYMIME
        S: 555 5.5.4 Unsupported parameter BODY=BINARYMIME
        ",
    );
}

#[test]
fn requiretls_offered_and_taken_only_under_tls() {
    // RFC 8689 §4.1: not before STARTTLS, even when configured.
    let cfg = Config { requiretls: true, ..smtp() };
    transcript(
        cfg.clone(),
        r"
        S: 220 mx.test ESMTP mailroom
        C: EHLO client.test
        S: 250-mx.test Hello client.test
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE 1000
        S: 250-CHUNKING
        S: 250-SMTPUTF8
        S: 250-DSN
        S: 250 STARTTLS
        C: MAIL FROM:<a@x.test> REQUIRETLS
        S: 555 5.5.4 Unsupported parameter REQUIRETLS
        ",
    );
    transcript(
        Config { tls_active: true, ..cfg },
        r"
        S: 220 mx.test ESMTP mailroom
        C: EHLO client.test
        S: 250-mx.test Hello client.test
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE 1000
        S: 250-CHUNKING
        S: 250-SMTPUTF8
        S: 250-DSN
        S: 250-REQUIRETLS
        S: 250 AUTH PLAIN LOGIN
        C: MAIL FROM:<a@x.test> REQUIRETLS
        S: 250 2.1.0 Ok
        ",
    );
    // Not configured: refused under TLS too.
    transcript(
        tls(),
        r"
        S: 220 mx.test ESMTP mailroom
        C: HELO client.test
        S: 250 mx.test Hello client.test
        C: MAIL FROM:<a@x.test> REQUIRETLS
        S: 555 5.5.4 Unsupported parameter REQUIRETLS
        ",
    );
}

#[test]
fn lmtp_refused_body_answers_every_recipient() {
    let cfg = Config { max_message_size: 10, ..Config::lmtp("mx.test") };
    transcript(
        cfg,
        "S: 220 mx.test LMTP mailroom
        C: LHLO c
        C: MAIL FROM:<a@x.test>
        C: RCPT TO:<b@y.test>
        C: RCPT TO:<bad@y.test>
        C: RCPT TO:<c@y.test>
        C: DATA
        S: 250-mx.test Hello c
        S: 250-PIPELINING
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250-SIZE 10
        S: 250-CHUNKING
        S: 250 SMTPUTF8
        S: 250 2.1.0 Ok
        S: 250 2.1.5 Ok
        S: 550 5.1.1 Refused
        S: 250 2.1.5 Ok
        S: 354 End data with <CR><LF>.<CR><LF>
        C: 0123456789abcdef
        C: .
        S: 552 5.3.4 Message size exceeds fixed maximum message size
        S: 552 5.3.4 Message size exceeds fixed maximum message size
        ",
    );
}
