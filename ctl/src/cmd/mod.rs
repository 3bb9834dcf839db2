//! One module per top-level command.

pub mod admin;
pub mod alias;
pub mod auth;
pub mod check;
pub mod db;
pub mod dkim;
pub mod domain;
pub mod migrate;
pub mod pw;
pub mod queue;
pub mod report;
pub mod sendmail;
pub mod service;
pub mod sieve;
pub mod tls;
pub mod up;
pub mod user;

use anyhow::{Result, anyhow};
use proto::{Address, Domain};

/// Parse an address argument with a one-line error.
pub fn address(s: &str) -> Result<Address> {
    Address::parse(s).map_err(|e| anyhow!("{s}: {e}"))
}

/// Parse a domain argument with a one-line error.
pub fn domain(s: &str) -> Result<Domain> {
    Domain::parse(s).map_err(|e| anyhow!("{s}: {e}"))
}

/// Print rows as left-aligned columns under a header.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells.iter().zip(&width).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}
