//! The cheap schemes: PLAIN, PLAIN-MD5, SHA/SHA256/SHA512 and their salted SSHA forms.
//!
//! Dovecot stores these as a raw digest in hex or base64. The unsalted digests have a known
//! length, so Dovecot guesses the encoding (hex when the text is exactly twice the digest
//! length, else base64) unless a `.HEX`/`.B64` suffix says otherwise; we do the same.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use md5::Md5;
use rand::RngCore as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq as _;

use super::HashError;
use super::scheme::{Encoding, Scheme};

/// Salt length for new SSHA* hashes. Dovecot writes 4 bytes and reads any length; 8 costs
/// nothing and makes two users sharing a salt far less likely.
pub const SSHA_SALT_LEN: usize = 8;

/// Base64 as Dovecot reads it: padding optional, stray low bits tolerated.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decode a stored digest with an explicit encoding, or with `None` the scheme's default
/// (guessing hex vs base64 by length for the fixed-length digests, as Dovecot does).
pub(crate) fn decode(scheme: Scheme, encoding: Option<Encoding>, body: &str) -> Result<Vec<u8>, HashError> {
    let malformed = HashError::Malformed { scheme: scheme.name() };
    let raw = match (encoding, scheme.raw_len()) {
        (Some(Encoding::Hex), _) => hex::decode(body).map_err(|_| malformed)?,
        (Some(Encoding::Base64), _) => LENIENT_B64.decode(body).map_err(|_| malformed)?,
        (None, Some(len)) if body.len() == 2 * len => match hex::decode(body) {
            Ok(raw) => raw,
            // Some lengths are valid in both; Dovecot falls back to base64 too.
            Err(_) => LENIENT_B64.decode(body).map_err(|_| malformed)?,
        },
        (None, _) if scheme == Scheme::Plain || scheme.is_crypt() => body.as_bytes().to_vec(),
        (None, _) => LENIENT_B64.decode(body).map_err(|_| malformed)?,
    };
    Ok(raw)
}

/// Verify `password` against the body of a digest-scheme hash.
pub(crate) fn verify(
    scheme: Scheme,
    encoding: Option<Encoding>,
    body: &str,
    password: &[u8],
) -> Result<bool, HashError> {
    let malformed = HashError::Malformed { scheme: scheme.name() };
    let raw = decode(scheme, encoding, body)?;
    let matches = match scheme {
        // Digest both sides so the comparison is constant-time in length as well as content.
        Scheme::Plain => ct_eq(&Sha256::digest(&raw), &Sha256::digest(password)),
        _ => {
            let len = digest_len(scheme);
            if let Some(want) = scheme.raw_len() {
                if raw.len() != want {
                    return Err(malformed);
                }
                ct_eq(&digest(scheme, password, &[]), &raw)
            } else {
                // SSHA*: digest || salt, and Dovecot requires at least one salt byte.
                if raw.len() <= len {
                    return Err(malformed);
                }
                let (expected, salt) = raw.split_at(len);
                ct_eq(&digest(scheme, password, salt), expected)
            }
        }
    };
    Ok(matches)
}

/// Hash `password` with a digest scheme; returns the body without the `{SCHEME}` prefix.
pub(crate) fn hash(scheme: Scheme, password: &[u8]) -> Result<String, HashError> {
    match scheme {
        Scheme::Plain => String::from_utf8(password.to_vec()).map_err(|_| HashError::Unsupported {
            scheme: scheme.name(),
            reason: "the password is not UTF-8",
        }),
        Scheme::PlainMd5 => Ok(hex::encode(digest(scheme, password, &[]))),
        Scheme::Sha | Scheme::Sha256 | Scheme::Sha512 => Ok(STANDARD.encode(digest(scheme, password, &[]))),
        Scheme::Ssha | Scheme::Ssha256 | Scheme::Ssha512 => {
            let mut salt = [0u8; SSHA_SALT_LEN];
            rand::rngs::OsRng
                .try_fill_bytes(&mut salt)
                .map_err(|e| HashError::Failed(format!("random salt: {e}")))?;
            let mut raw = digest(scheme, password, &salt);
            raw.extend_from_slice(&salt);
            Ok(STANDARD.encode(raw))
        }
        _ => Err(HashError::Unsupported { scheme: scheme.name(), reason: "not a digest scheme" }),
    }
}

/// Output length of the digest behind a digest scheme.
fn digest_len(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Sha512 | Scheme::Ssha512 => 64,
        Scheme::Sha256 | Scheme::Ssha256 => 32,
        Scheme::Sha | Scheme::Ssha => 20,
        _ => 16,
    }
}

/// digest(password || salt) with the scheme's hash function.
fn digest(scheme: Scheme, password: &[u8], salt: &[u8]) -> Vec<u8> {
    match scheme {
        Scheme::Sha512 | Scheme::Ssha512 => {
            Sha512::new().chain_update(password).chain_update(salt).finalize().to_vec()
        }
        Scheme::Sha256 | Scheme::Ssha256 => {
            Sha256::new().chain_update(password).chain_update(salt).finalize().to_vec()
        }
        Scheme::Sha | Scheme::Ssha => {
            Sha1::new().chain_update(password).chain_update(salt).finalize().to_vec()
        }
        _ => Md5::new().chain_update(password).chain_update(salt).finalize().to_vec(),
    }
}

/// Constant-time equality of two byte strings (length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values: `doveadm pw -s SCHEME -p test` and coreutils' md5sum/sha*sum of "test".
    const MD5_HEX: &str = "098f6bcd4621d373cade4e832627b4f6";
    const MD5_B64: &str = "CY9rzUYh03PK3k6DJie09g==";
    const SHA256_HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const SHA256_B64: &str = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";

    #[test]
    fn known_digests_in_both_encodings() {
        let ok = |scheme, enc, body: &str| verify(scheme, enc, body, b"test").unwrap();
        assert!(ok(Scheme::PlainMd5, None, MD5_HEX));
        assert!(ok(Scheme::PlainMd5, None, &MD5_HEX.to_uppercase()));
        assert!(ok(Scheme::PlainMd5, None, MD5_B64));
        assert!(ok(Scheme::PlainMd5, None, MD5_B64.trim_end_matches('=')));
        assert!(ok(Scheme::PlainMd5, Some(Encoding::Base64), MD5_B64));
        assert!(ok(Scheme::Sha256, None, SHA256_B64));
        assert!(ok(Scheme::Sha256, None, SHA256_HEX));
        assert!(ok(Scheme::Sha256, Some(Encoding::Hex), SHA256_HEX));
        assert!(ok(Scheme::Sha, None, "qUqP5cyxm6YcTAhz05Hph5gvu9M="));
        assert!(!ok(Scheme::Sha256, None, &STANDARD.encode([0u8; 32])));
    }

    #[test]
    fn explicit_encoding_is_not_guessed() {
        // Hex text read as base64 decodes to the wrong length.
        assert!(verify(Scheme::Sha256, Some(Encoding::Base64), SHA256_HEX, b"test").is_err());
        assert!(verify(Scheme::Sha256, Some(Encoding::Hex), SHA256_B64, b"test").is_err());
    }

    #[test]
    fn ssha_accepts_any_salt_length() {
        for salt_len in [1usize, 4, 8, 16, 100] {
            let salt = vec![0xA5; salt_len];
            let mut raw = digest(Scheme::Ssha256, b"pw", &salt);
            raw.extend_from_slice(&salt);
            let body = STANDARD.encode(&raw);
            assert!(verify(Scheme::Ssha256, None, &body, b"pw").unwrap());
            assert!(!verify(Scheme::Ssha256, None, &body, b"pW").unwrap());
            let hex_body = hex::encode(&raw);
            assert!(verify(Scheme::Ssha256, Some(Encoding::Hex), &hex_body, b"pw").unwrap());
        }
    }

    #[test]
    fn ssha_without_salt_is_malformed() {
        let body = STANDARD.encode(digest(Scheme::Ssha, b"pw", &[]));
        assert!(matches!(
            verify(Scheme::Ssha, None, &body, b"pw"),
            Err(HashError::Malformed { scheme: "SSHA" })
        ));
    }

    #[test]
    fn new_ssha_salt_length() {
        let body = hash(Scheme::Ssha512, b"pw").unwrap();
        assert_eq!(STANDARD.decode(body).unwrap().len(), 64 + SSHA_SALT_LEN);
    }

    #[test]
    fn plain_is_exact() {
        assert!(verify(Scheme::Plain, None, "test", b"test").unwrap());
        assert!(!verify(Scheme::Plain, None, "test", b"test ").unwrap());
        assert!(!verify(Scheme::Plain, None, "test", b"Test").unwrap());
        assert!(verify(Scheme::Plain, Some(Encoding::Hex), "74657374", b"test").unwrap());
        assert!(hash(Scheme::Plain, b"\xff").is_err());
    }
}
