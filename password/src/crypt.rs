//! crypt(3) strings: MD5-CRYPT `$1$`, SHA256-CRYPT `$5$`, SHA512-CRYPT `$6$`, bcrypt `$2a$`
//! `$2b$` `$2y$`, DES and BSDi DES, plus the Argon2 PHC strings that share the `$id$` shape.
//!
//! Like Dovecot's `crypt()`-based verifiers, the string's own `$id$` picks the algorithm,
//! whatever `{SCHEME}` prefix it was stored under. Every string is checked field by field
//! before pwhash sees it: pwhash panics (integer underflow) on control characters in a salt,
//! and would happily run 999,999,999 SHA-crypt rounds or bcrypt cost 31 if a row asked.

use pwhash::bcrypt::{BcryptSetup, BcryptVariant};
use pwhash::{bcrypt, bsdi_crypt, md5_crypt, sha256_crypt, sha512_crypt, unix_crypt};

use super::digest::ct_eq;
use super::scheme::Scheme;
use super::{HashError, MAX_PASSWORD_LEN, argon, digest};

/// Most SHA256/SHA512-CRYPT rounds we compute. glibc defaults to 5000 and passlib to
/// 656,000; at 1,000,000 one hostile row costs a login half a second of CPU (under 2 s
/// with a MAX_PASSWORD_LEN password) instead of the minutes glibc's cap of 999,999,999 allows.
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 1_000_000;
/// Fewest SHA-crypt rounds glibc writes (it clamps lower requests up to this and says so).
const MIN_SHA_CRYPT_ROUNDS: u32 = 1000;
/// Highest bcrypt cost we compute: 2^14 iterations, about 1.3 s here. doveadm writes 5 and
/// PHP (postfixadmin) 10; every step doubles the work up to the format's 31, and a mail
/// client logging in per connection could not live with more than this anyway.
pub const MAX_BCRYPT_COST: u32 = 14;
/// Highest BSDi DES iteration count; the format allows 2^24 - 1, its default is 7250.
pub const MAX_BSDI_ROUNDS: u32 = 1 << 20;
/// bcrypt cost of new BLF-CRYPT hashes: the same as `doveadm pw -s BLF-CRYPT`.
pub const NEW_BCRYPT_COST: u32 = 5;

/// The crypt family a stored string belongs to, after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Md5,
    Sha256,
    Sha512,
    Bcrypt,
    Argon2,
    Des,
    Bsdi,
}

/// The scheme a bare (unprefixed) string is in, when its `$id$` is one postfixadmin or
/// Extman writes.
pub(crate) fn detect(s: &str) -> Option<Scheme> {
    const IDS: [(&str, Scheme); 8] = [
        ("$1$", Scheme::Md5Crypt),
        ("$5$", Scheme::Sha256Crypt),
        ("$6$", Scheme::Sha512Crypt),
        ("$2a$", Scheme::BlfCrypt),
        ("$2b$", Scheme::BlfCrypt),
        ("$2y$", Scheme::BlfCrypt),
        ("$argon2i$", Scheme::Argon2i),
        ("$argon2id$", Scheme::Argon2id),
    ];
    IDS.iter().find(|(id, _)| s.starts_with(id)).map(|&(_, scheme)| scheme)
}

/// Verify `password` against a crypt string stored under `declared`.
pub(crate) fn verify(declared: Scheme, body: &str, password: &[u8]) -> Result<bool, HashError> {
    let kind = match classify(declared, body)? {
        Some(kind) => kind,
        // Dovecot's MD5 alias also takes a PLAIN-MD5 digest.
        None => return digest::verify(Scheme::PlainMd5, None, body, password),
    };
    if kind == Kind::Argon2 {
        return argon::verify(body, password);
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Ok(false);
    }
    #[allow(deprecated)] // the legacy algorithms are deprecated for hashing, not for checking
    let computed = match kind {
        Kind::Md5 => md5_crypt::hash_with(body, password),
        Kind::Sha256 => sha256_crypt::hash_with(body, password),
        Kind::Sha512 => sha512_crypt::hash_with(body, password),
        Kind::Bcrypt => bcrypt::hash_with(body, password),
        Kind::Des => unix_crypt::hash_with(body, password),
        Kind::Bsdi => bsdi_crypt::hash_with(body, password),
        Kind::Argon2 => return Err(malformed(kind)),
    };
    match computed {
        Ok(computed) => Ok(ct_eq(computed.as_bytes(), body.as_bytes())),
        Err(_) => Err(malformed(kind)),
    }
}

/// Hash with a crypt scheme and a fresh salt; returns the bare crypt string.
pub(crate) fn hash(scheme: Scheme, password: &[u8], cost: argon::Argon2Cost) -> Result<String, HashError> {
    let failed = |e: pwhash::error::Error| HashError::Failed(format!("{}: {e}", scheme.name()));
    match scheme {
        Scheme::Argon2id | Scheme::Argon2i => argon::hash(scheme, password, cost),
        // Default 5000 rounds (written without rounds=) and a 16-character salt, like doveadm.
        Scheme::Sha512Crypt => sha512_crypt::hash(password).map_err(failed),
        #[allow(deprecated)] // pwhash prefers SHA512-CRYPT, but the caller asked for this
        Scheme::Sha256Crypt => sha256_crypt::hash(password).map_err(failed),
        Scheme::BlfCrypt => bcrypt::hash_with(
            BcryptSetup { salt: None, cost: Some(NEW_BCRYPT_COST), variant: Some(BcryptVariant::V2y) },
            password,
        )
        .map_err(failed),
        #[allow(deprecated)] // asked for explicitly; 8-character salt like doveadm
        Scheme::Md5Crypt => md5_crypt::hash(password).map_err(failed),
        _ => Err(HashError::Unsupported {
            scheme: scheme.name(),
            reason: "name a concrete crypt scheme such as SHA512-CRYPT",
        }),
    }
}

/// Validate a crypt string and say which algorithm it needs; `None` means "a PLAIN-MD5
/// digest under the MD5 alias".
fn classify(declared: Scheme, s: &str) -> Result<Option<Kind>, HashError> {
    let kind = if s.starts_with("$1$") {
        Kind::Md5
    } else if s.starts_with("$5$") {
        Kind::Sha256
    } else if s.starts_with("$6$") {
        Kind::Sha512
    } else if s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$") {
        Kind::Bcrypt
    } else if s.starts_with("$argon2i$") || s.starts_with("$argon2id$") {
        Kind::Argon2
    } else if let Some(rest) = s.strip_prefix('$') {
        return Err(unknown_id(declared, rest));
    } else if s.starts_with('_') {
        Kind::Bsdi
    } else if s.len() == 13 {
        Kind::Des
    } else if declared == Scheme::Md5Crypt {
        return Ok(None);
    } else {
        return Err(HashError::Malformed { scheme: declared.name() });
    };
    let valid = match kind {
        Kind::Md5 => valid_md5(s),
        Kind::Sha256 => valid_sha(s, 43),
        Kind::Sha512 => valid_sha(s, 86),
        Kind::Bcrypt => valid_bcrypt(s),
        // The PHC parser validates; only the cost limits are ours (in argon).
        Kind::Argon2 => true,
        Kind::Des => all_h64(s),
        Kind::Bsdi => valid_bsdi(s),
    };
    if valid { Ok(Some(kind)) } else { Err(malformed(kind)) }
}

/// `$id$...` with an id we do not implement (yescrypt `$y$`, `$sha1$`, `$2x$`, `$argon2d$`).
fn unknown_id(declared: Scheme, rest: &str) -> HashError {
    match rest.split_once('$') {
        Some((id, _)) if !id.is_empty() && id.len() <= 16 && id.bytes().all(is_id_char) => {
            HashError::UnknownScheme(format!("${id}$"))
        }
        _ => HashError::Malformed { scheme: declared.name() },
    }
}

fn malformed(kind: Kind) -> HashError {
    let scheme = match kind {
        Kind::Md5 => Scheme::Md5Crypt,
        Kind::Sha256 => Scheme::Sha256Crypt,
        Kind::Sha512 => Scheme::Sha512Crypt,
        Kind::Bcrypt => Scheme::BlfCrypt,
        Kind::Argon2 => Scheme::Argon2id,
        Kind::Des | Kind::Bsdi => Scheme::Crypt,
    };
    HashError::Malformed { scheme: scheme.name() }
}

/// `$1$` salt (0-8 chars) `$` 22-char checksum.
fn valid_md5(s: &str) -> bool {
    let Some((salt, sum)) = s.get(3..).and_then(|rest| rest.split_once('$')) else {
        return false;
    };
    salt.len() <= 8 && all_h64(salt) && sum.len() == 22 && all_h64(sum)
}

/// `$5$`/`$6$` [`rounds=N$`] salt (0-16 chars) `$` checksum, N within
/// [MIN_SHA_CRYPT_ROUNDS, MAX_SHA_CRYPT_ROUNDS].
fn valid_sha(s: &str, sum_len: usize) -> bool {
    let Some(mut rest) = s.get(3..) else {
        return false;
    };
    if let Some(after) = rest.strip_prefix("rounds=") {
        let Some((digits, tail)) = after.split_once('$') else {
            return false;
        };
        // glibc writes plain decimal without leading zeros and clamps below 1000 (and says
        // so in its output), so anything else cannot be a hash it made.
        let plain = !digits.is_empty()
            && digits.len() <= 10
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit());
        let Some(rounds) = digits.parse::<u32>().ok().filter(|_| plain) else {
            return false;
        };
        if !(MIN_SHA_CRYPT_ROUNDS..=MAX_SHA_CRYPT_ROUNDS).contains(&rounds) {
            return false;
        }
        rest = tail;
    }
    let Some((salt, sum)) = rest.split_once('$') else {
        return false;
    };
    salt.len() <= 16 && all_h64(salt) && sum.len() == sum_len && all_h64(sum)
}

/// `$2?$NN$` + 22-char salt + 31-char checksum, cost within [4, MAX_BCRYPT_COST].
fn valid_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 60 || b[6] != b'$' || !b[4].is_ascii_digit() || !b[5].is_ascii_digit() {
        return false;
    }
    let cost = u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0');
    (4..=MAX_BCRYPT_COST).contains(&cost) && all_h64(&s[7..])
}

/// `_` + 4-char count + 4-char salt + 11-char checksum, count within [1, MAX_BSDI_ROUNDS].
fn valid_bsdi(s: &str) -> bool {
    if s.len() != 20 || !all_h64(&s[1..]) {
        return false;
    }
    // The count is four base-64 digits, least significant first.
    let rounds = s.as_bytes()[1..5].iter().rev().fold(0u32, |acc, &c| (acc << 6) | h64_value(c));
    (1..=MAX_BSDI_ROUNDS).contains(&rounds)
}

/// The crypt base-64 alphabet `./0-9A-Za-z`.
fn is_h64(c: u8) -> bool {
    c == b'.' || c == b'/' || c.is_ascii_alphanumeric()
}

fn all_h64(s: &str) -> bool {
    s.bytes().all(is_h64)
}

/// Value of a crypt base-64 digit (caller has checked `is_h64`).
fn h64_value(c: u8) -> u32 {
    u32::from(match c {
        b'.' => 0,
        b'/' => 1,
        b'0'..=b'9' => c - b'0' + 2,
        b'A'..=b'Z' => c - b'A' + 12,
        _ => c.wrapping_sub(b'a').wrapping_add(38),
    })
}

fn is_id_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with `doveadm pw -s ... -p test` (Dovecot 2.3.19) and `mkpasswd` (whois 5.5.17).
    const MD5: &str = "$1$zOdlBAkM$1iiFvRHJbGCyEiHuC1Puk1";
    const SHA256: &str = "$5$5NKrQ5J47m/zfzYi$SciUwVtKHFCFyxD275xBypWtQcWZWyiEp01lpfFNxb9";
    const SHA512: &str = "$6$PkzoLAGL3BIyfXox$zwLi1JXkS3XfyxVNI6zdzmVrGZeLpig1ptGBVoXowxdXrWLPmTroABiSYRXkUuknh6wg7nRlj3w6fX9xq.2aQ1";
    const SHA512_ROUNDS: &str = "$6$rounds=10000$iXHHypxwTTGyExO2$gUCNo3mcBH8kCsusPqo1A8X.WHTOONzcKkb07AAAzy3RpNR2w3oWi3h/11ygYVZT2juPf4Afr5WFEWRuehQCt0";
    const BCRYPT_2Y: &str = "$2y$05$d8k2eRKTFI5Us3GXbBOYoenv9SiTrLSRJvfAwOAHJIrTFp5Jen2ty";
    const BCRYPT_2B: &str = "$2b$05$eaXYFQpt0.HWLo1sfq9.oeWLMfKIM8EfmGZQW1DRPU2ixF/EZXj9S";
    const DES: &str = "aU6dx7mrQ/Sbo";

    #[test]
    fn real_tool_hashes() {
        for h in [MD5, SHA256, SHA512, SHA512_ROUNDS, BCRYPT_2Y, BCRYPT_2B, DES] {
            assert!(verify(Scheme::Crypt, h, b"test").unwrap(), "{h}");
            assert!(!verify(Scheme::Crypt, h, b"test1").unwrap(), "{h}");
        }
    }

    #[test]
    fn bsdi_from_pwhash_docs() {
        assert!(verify(Scheme::Crypt, "_Gl/.K0Ay.aosctsbJ1k", b"password").unwrap());
        assert!(!verify(Scheme::Crypt, "_Gl/.K0Ay.aosctsbJ1k", b"passwore").unwrap());
        // Count "zzzz" = 2^24 - 1 iterations: refused, not computed.
        assert!(verify(Scheme::Crypt, "_zzzzK0Ay.aosctsbJ1k", b"password").is_err());
    }

    #[test]
    fn the_string_picks_the_algorithm() {
        assert!(verify(Scheme::Sha512Crypt, MD5, b"test").unwrap());
        assert!(verify(Scheme::BlfCrypt, SHA256, b"test").unwrap());
    }

    #[test]
    fn md5_alias_takes_plain_md5() {
        let md5_hex = "098f6bcd4621d373cade4e832627b4f6";
        assert!(verify(Scheme::Md5Crypt, md5_hex, b"test").unwrap());
        assert!(verify(Scheme::Crypt, md5_hex, b"test").is_err());
    }

    #[test]
    fn limits() {
        let sum = &SHA512_ROUNDS["$6$rounds=10000$".len()..];
        let over = format!("$6$rounds={}${sum}", MAX_SHA_CRYPT_ROUNDS + 1);
        let at = format!("$6$rounds={}${sum}", MAX_SHA_CRYPT_ROUNDS);
        assert!(matches!(
            classify(Scheme::Crypt, &over),
            Err(HashError::Malformed { scheme: "SHA512-CRYPT" })
        ));
        assert_eq!(classify(Scheme::Crypt, &at).unwrap(), Some(Kind::Sha512));
        let over = BCRYPT_2Y.replacen("$05$", &format!("${}$", MAX_BCRYPT_COST + 1), 1);
        assert!(verify(Scheme::Crypt, &over, b"test").is_err());
        let at = BCRYPT_2Y.replacen("$05$", &format!("${MAX_BCRYPT_COST}$"), 1);
        assert_eq!(classify(Scheme::Crypt, &at).unwrap(), Some(Kind::Bcrypt));
    }

    #[test]
    fn unknown_ids_are_named() {
        for (s, id) in [
            ("$y$j9T$abc$def", "$y$"),
            ("$sha1$40000$abc$def", "$sha1$"),
            ("$2x$05$d8k2eRKTFI5Us3GXbBOYoenv9SiTrLSRJvfAwOAHJIrTFp5Jen2ty", "$2x$"),
            ("$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$abc", "$argon2d$"),
        ] {
            match verify(Scheme::Crypt, s, b"test") {
                Err(HashError::UnknownScheme(got)) => assert_eq!(got, id),
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn new_hashes_have_doveadm_shape() {
        let sha = hash(Scheme::Sha512Crypt, b"pw", Default::default()).unwrap();
        assert_eq!(sha.len(), 3 + 16 + 1 + 86, "{sha}");
        let blf = hash(Scheme::BlfCrypt, b"pw", Default::default()).unwrap();
        assert!(blf.starts_with("$2y$05$"), "{blf}");
        let md5 = hash(Scheme::Md5Crypt, b"pw", Default::default()).unwrap();
        assert_eq!(md5.len(), 3 + 8 + 1 + 22, "{md5}");
        assert!(hash(Scheme::Crypt, b"pw", Default::default()).is_err());
    }

    #[test]
    fn h64_digits() {
        let alphabet = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for (i, &c) in alphabet.iter().enumerate() {
            assert_eq!(h64_value(c), i as u32);
        }
    }
}
