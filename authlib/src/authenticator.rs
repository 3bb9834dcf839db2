//! Password checks for the daemons that take logins (mailroom-mta's AUTH, mailroom-mra's
//! POP3/IMAP): through a saslauthd socket, as libsasl's `pwcheck_method: saslauthd` does, or
//! through the directory itself when the daemon's config says `auth = "direct"`.

use std::path::PathBuf;
use std::time::Duration;

use proto::Secret;
use proto::cyrus::{self, encode_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Directory, Unavailable, Verdict};

/// The longest saslauthd may take; it delays answers to throttle guessing, so this is generous.
const SASLAUTHD_TIMEOUT: Duration = Duration::from_secs(30);

/// Where passwords are checked.
#[derive(Clone)]
pub enum Authenticator {
    /// A cyrus-protocol socket (mailroom-saslauthd's or cyrus saslauthd's `mux`).
    Saslauthd(PathBuf),
    /// The directory, directly.
    Direct(std::sync::Arc<Directory>),
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    /// Right password; the login as the checker names it (canonical when checked directly).
    Accepted(String),
    /// Wrong password, unknown user: one answer for all.
    Rejected,
}

impl Authenticator {
    /// Where a daemon configured with `auth = method` checks passwords.
    pub fn new(
        method: config::AuthMethod,
        saslauthd_socket: &config::AbsPath,
        dir: std::sync::Arc<Directory>,
    ) -> Self {
        match method {
            config::AuthMethod::Saslauthd => Authenticator::Saslauthd(PathBuf::from(saslauthd_socket)),
            config::AuthMethod::Direct => Authenticator::Direct(dir),
        }
    }

    /// Check `login`'s `password` for `service` (`smtp`, `pop`, `imap`), logging nothing: the
    /// caller logs the attempt with its client address.
    pub async fn check(
        &self,
        login: &str,
        password: &Secret,
        service: &str,
        client: Option<&str>,
    ) -> Result<AuthResult, Unavailable> {
        match self {
            Authenticator::Direct(dir) => Ok(match dir.authenticate(login, password).await? {
                Verdict::Accepted(user) => AuthResult::Accepted(user.to_string()),
                Verdict::Rejected(_) => AuthResult::Rejected,
            }),
            Authenticator::Saslauthd(socket) => {
                match tokio::time::timeout(SASLAUTHD_TIMEOUT, ask(socket, login, password, service, client))
                    .await
                {
                    Ok(Ok(cyrus::Verdict::Ok)) => Ok(AuthResult::Accepted(login.to_string())),
                    Ok(Ok(cyrus::Verdict::TempFail)) => {
                        Err(Unavailable("saslauthd: directory unavailable".into()))
                    }
                    Ok(Ok(cyrus::Verdict::No)) => Ok(AuthResult::Rejected),
                    Ok(Err(e)) => Err(Unavailable(format!("saslauthd {}: {e}", socket.display()))),
                    Err(_) => Err(Unavailable(format!("saslauthd {}: no answer", socket.display()))),
                }
            }
        }
    }
}

/// One request on a fresh connection, as libsasl sends it: the login split at its last `@`
/// into login and realm, then the reply's verdict.
async fn ask(
    socket: &std::path::Path,
    login: &str,
    password: &Secret,
    service: &str,
    client: Option<&str>,
) -> std::io::Result<cyrus::Verdict> {
    let (user, realm) = login.rsplit_once('@').unwrap_or((login, ""));
    let mut fields: Vec<&[u8]> =
        vec![user.as_bytes(), password.expose(), service.as_bytes(), realm.as_bytes()];
    if let Some(c) = client {
        fields.push(c.as_bytes());
    }
    let mut conn = tokio::net::UnixStream::connect(socket).await?;
    conn.write_all(&encode_request(&fields)).await?;
    let mut buf = Vec::with_capacity(64);
    loop {
        if let Some(verdict) = cyrus::decode_reply(&buf) {
            return Ok(verdict);
        }
        buf.reserve(1024);
        if conn.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot saslauthd that records the request and answers `reply`.
    async fn fake_saslauthd(
        reply: &'static str,
    ) -> (tempfile::TempDir, PathBuf, tokio::task::JoinHandle<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mux");
        let l = tokio::net::UnixListener::bind(&path).unwrap();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 512];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(&cyrus::reply(reply)).await.unwrap();
            buf.truncate(n);
            buf
        });
        (dir, path, h)
    }

    #[tokio::test]
    async fn speaks_the_cyrus_protocol() {
        let (_d, path, h) = fake_saslauthd("OK").await;
        let a = Authenticator::Saslauthd(path);
        let r = a.check("bob@b.test", &Secret::new("pw"), "smtp", None).await;
        assert_eq!(r, Ok(AuthResult::Accepted("bob@b.test".into())));
        assert_eq!(h.await.unwrap(), encode_request(&[b"bob", b"pw", b"smtp", b"b.test"]));
    }

    #[tokio::test]
    async fn no_tempfail_and_absent_socket() {
        let (_d, path, _h) = fake_saslauthd("NO authentication failed").await;
        let r = Authenticator::Saslauthd(path).check("bob", &Secret::new("pw"), "imap", None).await;
        assert_eq!(r, Ok(AuthResult::Rejected));
        let (_d, path, _h) = fake_saslauthd("NO temporary failure: user directory unavailable").await;
        let r = Authenticator::Saslauthd(path).check("bob", &Secret::new("pw"), "imap", None).await;
        assert!(r.is_err());
        let r = Authenticator::Saslauthd("/nonexistent/mux".into())
            .check("bob", &Secret::new("p"), "pop", None)
            .await;
        assert!(r.is_err());
    }
}
