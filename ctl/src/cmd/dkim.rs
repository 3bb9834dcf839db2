//! `mailroomctl dkim keygen DOMAIN`: make a DKIM signing key (RSA 2048, like opendkim-genkey),
//! write it as PEM (PKCS#1, mode 0600) and print the DNS TXT record to publish and the
//! `[mta.dkim]` lines that make mailroom-mta sign with it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use clap::Subcommand;
use mail_auth::dkim::generate::DkimKeyPair;

/// `mailroomctl dkim ...`
#[derive(Subcommand)]
pub enum DkimCmd {
    /// Generate a signing key for DOMAIN and print its DNS TXT record
    Keygen {
        /// The signing domain (d=), normally the From: domain
        domain: String,
        /// Selector (s=): the record goes to SELECTOR._domainkey.DOMAIN
        #[arg(long, default_value = "mail")]
        selector: String,
        /// RSA key size (1024 is the least receivers accept; 2048 the usual choice)
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Key file [default: dkim/DOMAIN.SELECTOR.pem beside the configuration file, so
        /// /etc/mailroom/dkim/ for the system's and DIR/dkim/ for `mailroomctl up`'s]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

impl DkimCmd {
    /// Run the subcommand; `config` is `--config`, whose directory holds the keys by default.
    pub fn run(self, config: Option<&Path>) -> Result<ExitCode> {
        let DkimCmd::Keygen { domain, selector, bits, out } = self;
        let domain = super::domain(&domain)?.to_string();
        if selector.is_empty() || !selector.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b)) {
            bail!("{selector:?} is not a selector (letters, digits, '-' and '.')");
        }
        if !(1024..=4096).contains(&bits) {
            bail!("--bits must be between 1024 and 4096");
        }
        let out = out.unwrap_or_else(|| key_dir(config).join(format!("{domain}.{selector}.pem")));
        let pair = DkimKeyPair::generate_rsa(bits).map_err(|e| anyhow::anyhow!("generating the key: {e}"))?;
        write_key(&out, &pem("RSA PRIVATE KEY", pair.private_key()))?;
        let record = mailroom_mta::qmgr::dkim::txt_record(pair.public_key());
        println!("# {}: written", out.display());
        println!("# DNS: publish this TXT record");
        println!("{selector}._domainkey.{domain}. IN TXT \"{record}\"");
        println!("# mailroom.toml:");
        println!("[mta.dkim.\"{domain}\"]");
        println!("selector = \"{selector}\"");
        println!("key_file = \"{}\"", out.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// `dkim/` beside the configuration file that `--config` (else `MAILROOM_CONFIG`, else the
/// default path) names: a try-out stack keeps its keys in its own directory.
fn key_dir(config: Option<&Path>) -> PathBuf {
    let (file, _) = config::resolve_path(config);
    let file = std::path::absolute(&file).unwrap_or(file);
    file.parent().unwrap_or(Path::new("/etc/mailroom")).join("dkim")
}

/// PEM armour with 64-column lines (RFC 7468).
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// Create the key file 0600, never overwriting one (a replaced key breaks every signature
/// whose record is still published).
fn write_key(path: &std::path::Path, pem: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(pem.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_beside_the_configuration() {
        assert_eq!(key_dir(Some(Path::new("/srv/try/mailroom.toml"))), Path::new("/srv/try/dkim"));
        let here = std::env::current_dir().unwrap();
        assert_eq!(key_dir(Some(Path::new("mailroom.toml"))), here.join("dkim"));
    }
}
