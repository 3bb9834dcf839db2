//! mailroom-mra's metrics: logins by protocol and result, and the time each command takes,
//! by protocol and command name (names outside the protocols' own count as `other`).

use std::sync::LazyLock;
use std::time::Instant;

use daemon::metrics::{Counter, Family, Histogram, Labels, Registry};

use crate::server::login::Failure;

static LOGINS: LazyLock<Family<Labels<2>, Counter>> = LazyLock::new(Family::default);
static COMMANDS: LazyLock<Family<Labels<2>, Histogram>> =
    LazyLock::new(|| Family::new_with_constructor(daemon::metrics::latency_histogram));

/// IMAP commands (RFC 9051, 3501 and the extensions we offer) counted by name.
const IMAP: &[&str] = &[
    "APPEND",
    "AUTHENTICATE",
    "CAPABILITY",
    "CHECK",
    "CLOSE",
    "COMPRESS",
    "COPY",
    "CREATE",
    "DELETE",
    "ENABLE",
    "EXAMINE",
    "EXPUNGE",
    "FETCH",
    "GETQUOTA",
    "GETQUOTAROOT",
    "ID",
    "IDLE",
    "LIST",
    "LOGIN",
    "LOGOUT",
    "LSUB",
    "MOVE",
    "NAMESPACE",
    "NOOP",
    "RENAME",
    "SEARCH",
    "SELECT",
    "STARTTLS",
    "STATUS",
    "STORE",
    "SUBSCRIBE",
    "UID COPY",
    "UID EXPUNGE",
    "UID FETCH",
    "UID MOVE",
    "UID SEARCH",
    "UID STORE",
    "UNAUTHENTICATE",
    "UNSELECT",
    "UNSUBSCRIBE",
];
/// POP3 commands (RFC 1939, 2449, 2595, 5034).
const POP3: &[&str] = &[
    "APOP", "AUTH", "CAPA", "DELE", "LIST", "NOOP", "PASS", "QUIT", "RETR", "RSET", "STAT", "STLS", "TOP",
    "UIDL", "USER",
];

/// ManageSieve commands (RFC 5804).
const MANAGESIEVE: &[&str] = &[
    "AUTHENTICATE",
    "CAPABILITY",
    "CHECKSCRIPT",
    "DELETESCRIPT",
    "GETSCRIPT",
    "HAVESPACE",
    "LISTSCRIPTS",
    "LOGOUT",
    "NOOP",
    "PUTSCRIPT",
    "RENAMESCRIPT",
    "SETACTIVE",
    "STARTTLS",
    "UNAUTHENTICATE",
];

/// Add this crate's metrics to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(
        "logins",
        "Logins, by protocol (imap, pop3, managesieve) and result (ok, failed, tempfail)",
        LOGINS.clone(),
    );
    registry.register(
        "command_seconds",
        "Time from a command's last byte to its answer being ready, by protocol and command",
        COMMANDS.clone(),
    );
}

/// A command `name` (upper case; `UID FETCH` for IMAP's UID forms) on `protocol` (`imap`,
/// `pop3`, `managesieve`) that started at `start` has been answered.
pub fn command(protocol: &'static str, name: &str, start: Instant) {
    let known = match protocol {
        "imap" => IMAP,
        "managesieve" => MANAGESIEVE,
        _ => POP3,
    };
    let name = known.iter().find(|k| **k == name).copied().unwrap_or("other");
    daemon::metrics::observe_since(
        &COMMANDS.get_or_create(&[("protocol", protocol), ("command", name)]),
        start,
    );
}

/// Count a login on `service` (`imap`, `pop`, `sieve`) that ended with `result`.
pub fn login<T>(service: &str, result: &Result<T, Failure>) {
    let protocol = match service {
        "imap" => "imap",
        "sieve" => "managesieve",
        _ => "pop3",
    };
    let result = match result {
        Ok(_) => "ok",
        Err(Failure::Rejected) => "failed",
        Err(Failure::TempFail) => "tempfail",
    };
    LOGINS.get_or_create(&[("protocol", protocol), ("result", result)]).inc();
}
