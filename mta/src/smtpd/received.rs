//! The trace header we prepend (RFC 5321 §4.4, RFC 3848 protocol names) and the hop count
//! that catches mail loops by counting the Received: headers already present.

/// What goes into our Received: header.
pub struct Trace<'a> {
    /// The client's HELO name.
    pub helo: &'a str,
    /// `[192.0.2.7]`, or `local` for the submission socket.
    pub client: &'a str,
    /// Our host name.
    pub by: &'a str,
    /// TLS protocol and cipher, when the session is encrypted.
    pub tls: Option<(&'a str, &'a str)>,
    /// The SASL login, when authenticated.
    pub login: Option<&'a str>,
    /// Queue id.
    pub id: &'a str,
    /// The recipient, named only when there is exactly one (Postfix does the same).
    pub single_rcpt: Option<&'a str>,
    /// Seconds since the epoch.
    pub now: i64,
}

/// The header, folded, CRLF-terminated.
pub fn header(t: &Trace<'_>) -> String {
    // RFC 3848: ESMTP, +S for TLS, +A for authenticated.
    let proto = match (t.tls.is_some(), t.login.is_some()) {
        (false, false) => "ESMTP",
        (true, false) => "ESMTPS",
        (false, true) => "ESMTPA",
        (true, true) => "ESMTPSA",
    };
    let mut h = format!("Received: from {} ({})\r\n", sanitize(t.helo), t.client);
    if let Some((proto, cipher)) = t.tls {
        h.push_str(&format!("\t(using {proto} with cipher {cipher})\r\n"));
    }
    if let Some(login) = t.login {
        h.push_str(&format!("\t(Authenticated sender: {})\r\n", sanitize(login)));
    }
    h.push_str(&format!("\tby {} (mailroom) with {proto} id {}", t.by, t.id));
    if let Some(rcpt) = t.single_rcpt {
        h.push_str(&format!("\r\n\tfor <{}>", sanitize(rcpt)));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", mail_builder::headers::date::Date::new(t.now).to_rfc822()));
    h
}

/// Client-chosen text in a header: printable ASCII only, no comment delimiters.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '(' | ')' | '\\') { c } else { '_' })
        .take(255)
        .collect()
}

/// Counts `Received:` header lines in the header section of a message fed in chunks.
#[derive(Debug, Default)]
pub struct HopCounter {
    hops: usize,
    /// Start of the current line, up to 9 bytes (`received:`).
    line: Vec<u8>,
    /// Previous byte was LF (a following CRLF or LF ends the header section).
    at_line_start: bool,
    /// Past the header section.
    body: bool,
    started: bool,
}

impl HopCounter {
    /// Feed message bytes.
    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.started {
            self.started = true;
            self.at_line_start = true;
        }
        for &b in chunk {
            if self.body {
                return;
            }
            if self.at_line_start && (b == b'\r' || b == b'\n') && self.line.is_empty() {
                if b == b'\n' {
                    self.body = true;
                }
                continue;
            }
            if b == b'\n' {
                self.line.clear();
                self.at_line_start = true;
                continue;
            }
            self.at_line_start = false;
            if self.line.len() < 9 {
                self.line.push(b);
                if self.line.len() == 9 && self.line.eq_ignore_ascii_case(b"received:") {
                    self.hops += 1;
                }
            }
        }
    }

    /// Received: headers seen.
    pub fn hops(&self) -> usize {
        self.hops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_received_headers_only_in_the_header_section() {
        let msg = b"Received: from a\r\n\tby b\r\nRECEIVED: x\r\nX-Received: no\r\nSubject: s\r\n\r\nReceived: body\r\n";
        for n in 1..msg.len() {
            let mut h = HopCounter::default();
            for c in msg.chunks(n) {
                h.feed(c);
            }
            assert_eq!(h.hops(), 2, "chunks of {n}");
        }
    }

    #[test]
    fn header_names_tls_and_auth() {
        let t = Trace {
            helo: "client (evil)\r\nX: y",
            client: "[192.0.2.7]",
            by: "mx.b.test",
            tls: Some(("TLSv1.3", "TLS13_AES_256_GCM_SHA384")),
            login: Some("bob@b.test"),
            id: "0123456789ABCDEF",
            single_rcpt: Some("carol@c.test"),
            now: 1_790_000_000,
        };
        let h = header(&t);
        assert!(h.starts_with("Received: from client__evil___X:_y ([192.0.2.7])\r\n"), "{h}");
        assert!(h.contains("with ESMTPSA id 0123456789ABCDEF\r\n\tfor <carol@c.test>;"), "{h}");
        assert!(h.contains("using TLSv1.3") && h.contains("Authenticated sender: bob@b.test"));
        assert!(h.ends_with("\r\n") && !h.contains("\n\n"));
        assert_eq!(h.matches('\n').count(), h.matches("\r\n").count());
    }
}
