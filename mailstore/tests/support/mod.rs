//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test file uses a different subset

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// The names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// Whether the tests run as root (they then exercise chown, mounts and privilege drops).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A message body of `lines` lines of 78 bytes plus CRLF, produced on the fly.
pub struct Lines {
    left: u64,
    line: Vec<u8>,
    at: usize,
}

impl Lines {
    pub fn new(lines: u64) -> Self {
        let mut line = vec![b'x'; 78];
        line.extend_from_slice(b"\r\n");
        Lines { left: lines, line, at: 0 }
    }
}

impl Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && self.left > 0 {
            let take = (self.line.len() - self.at).min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&self.line[self.at..self.at + take]);
            n += take;
            self.at += take;
            if self.at == self.line.len() {
                self.at = 0;
                self.left -= 1;
            }
        }
        Ok(n)
    }
}

/// A reader that yields `good` bytes of a message, then fails as a dropped connection would.
pub struct FailingReader {
    pub inner: Lines,
    pub good: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good == 0 {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away"));
        }
        let want = buf.len().min(self.good);
        let n = self.inner.read(&mut buf[..want])?;
        self.good -= n;
        Ok(n)
    }
}

/// A fresh Maildir in a temporary directory (kept alive by the returned guard).
pub fn maildir() -> (tempfile::TempDir, mailstore::Maildir) {
    let tmp = tempfile::tempdir().unwrap();
    let md = mailstore::Maildir::new(tmp.path().join("Maildir"));
    md.create().unwrap();
    (tmp, md)
}

/// Delivers a small message with `subject` into INBOX; its file name.
pub fn deliver(md: &mailstore::Maildir, subject: &str) -> String {
    let body = format!("Subject: {subject}\n\nbody of {subject}\n");
    let d = md.deliver(None, b"", &mut body.as_bytes()).unwrap();
    d.path.file_name().unwrap().to_str().unwrap().to_string()
}
