//! Hashes made by real tools (doveadm, openssl, mkpasswd, libxcrypt) must verify, and the
//! fixture file must keep covering every scheme DESIGN §3 promises.

use std::collections::BTreeSet;
use std::process::Command;

use password::{HashError, Scheme};
use proto::Secret;

/// One line of tests/fixtures/passwords.txt.
struct Fixture {
    line: usize,
    scheme: String,
    password: String,
    stored: String,
    command: String,
}

fn fixtures() -> Vec<Fixture> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/passwords.txt");
    let text = std::fs::read_to_string(path).expect("read passwords.txt");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [scheme, password, stored, command] = fields[..] else {
            panic!("passwords.txt:{}: want 4 tab-separated fields", i + 1);
        };
        out.push(Fixture {
            line: i + 1,
            scheme: scheme.to_owned(),
            password: password.to_owned(),
            stored: stored.to_owned(),
            command: command.to_owned(),
        });
    }
    out
}

#[test]
fn every_fixture_verifies() {
    for f in fixtures() {
        let at = format!("passwords.txt:{} ({})", f.line, f.command);
        let scheme = password::scheme_of(&f.stored, Scheme::Crypt).expect(&at);
        assert_eq!(scheme.name(), f.scheme, "{at}");
        let right = Secret::from(f.password.as_str());
        assert!(password::verify(&f.stored, &right, Scheme::Crypt).expect(&at), "{at}");
        // Change the start, not the end: DES crypt reads only the first 8 characters.
        for wrong in [format!("!{}", f.password), String::new()] {
            let wrong = Secret::from(wrong);
            assert!(!password::verify(&f.stored, &wrong, Scheme::Crypt).expect(&at), "{at}");
        }
    }
}

#[test]
fn fixtures_cover_every_promised_scheme() {
    let all = fixtures();
    let schemes: BTreeSet<&str> = all.iter().map(|f| f.scheme.as_str()).collect();
    for want in [
        "ARGON2ID",
        "ARGON2I",
        "SHA512-CRYPT",
        "SHA256-CRYPT",
        "BLF-CRYPT",
        "MD5-CRYPT",
        "SSHA512",
        "SSHA256",
        "SSHA",
        "SHA512",
        "SHA256",
        "SHA",
        "PLAIN-MD5",
        "PLAIN",
        "CRYPT",
    ] {
        assert!(schemes.contains(want), "no fixture for {want}");
    }
    let bare: Vec<&str> = all.iter().map(|f| f.stored.as_str()).filter(|s| !s.starts_with('{')).collect();
    for id in ["$1$", "$5$", "$6$", "$2y$", "$2a$", "$2b$", "$argon2id$"] {
        assert!(bare.iter().any(|s| s.starts_with(id)), "no bare {id} fixture");
    }
    assert!(
        all.iter().any(|f| f.stored.starts_with("{SHA512-CRYPT}$6$rounds=")),
        "no {{SHA512-CRYPT}}$6$rounds= fixture"
    );
    for tool in ["doveadm ", "openssl passwd ", "mkpasswd "] {
        assert!(all.iter().any(|f| f.command.contains(tool)), "no fixture made by {tool}");
    }
    assert!(all.iter().any(|f| !f.password.is_ascii()), "no non-ASCII password");
    assert!(
        all.iter().any(|f| f.password.contains(' ') && f.password.contains('"')),
        "no password with spaces and quotes"
    );
}

/// Dovecot must accept what we write (needs Debian's dovecot-core, which .ci/run installs).
#[test]
fn doveadm_accepts_our_hashes() {
    let doveadm = |args: &[&str]| Command::new("doveadm").args(["-c", "/dev/null", "pw"]).args(args).output();
    if doveadm(&["-l"]).is_err() {
        panic!("doveadm not found: apt-get install dovecot-core");
    }
    let pw = "pä ss \"wörd'";
    // Every scheme we can write (CRYPT only names the crypt(3) family when verifying).
    for scheme in password::ALL_SCHEMES.into_iter().filter(|s| *s != Scheme::Crypt) {
        let stored = password::hash(&Secret::from(pw), scheme).expect("hash");
        let good = doveadm(&["-t", &stored, "-p", pw]).expect("run doveadm");
        assert!(good.status.success(), "doveadm rejected {stored}: {good:?}");
        let bad = doveadm(&["-t", &stored, "-p", "wrong"]).expect("run doveadm");
        assert!(!bad.status.success(), "doveadm accepted a wrong password for {stored}");
    }
    assert!(matches!(password::hash(&Secret::from(pw), Scheme::Crypt), Err(HashError::Unsupported { .. })));
}
