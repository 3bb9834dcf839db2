//! Dovecot scheme names, their aliases and the `.HEX`/`.B64` encoding suffix.

/// A Dovecot password scheme name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `ARGON2ID`: PHC string `$argon2id$v=19$m=..,t=..,p=..$salt$hash`.
    Argon2id,
    /// `ARGON2I`: PHC string `$argon2i$...`.
    Argon2i,
    /// `SHA512-CRYPT`: `$6$[rounds=N$]salt$hash`.
    Sha512Crypt,
    /// `SHA256-CRYPT`: `$5$[rounds=N$]salt$hash`.
    Sha256Crypt,
    /// `BLF-CRYPT`: bcrypt `$2y$NN$...`.
    BlfCrypt,
    /// `MD5-CRYPT`: `$1$salt$hash`.
    Md5Crypt,
    /// `CRYPT`: any crypt(3) string, recognised by its `$id$` (or DES when it has none).
    Crypt,
    /// `SSHA512`: base64(sha512(password || salt) || salt).
    Ssha512,
    /// `SSHA256`: base64(sha256(password || salt) || salt).
    Ssha256,
    /// `SSHA`: base64(sha1(password || salt) || salt).
    Ssha,
    /// `SHA512`: unsalted sha512, base64 by default.
    Sha512,
    /// `SHA256`: unsalted sha256, base64 by default.
    Sha256,
    /// `SHA`: unsalted sha1, base64 by default.
    Sha,
    /// `PLAIN-MD5`: unsalted md5, hex by default.
    PlainMd5,
    /// `PLAIN`: the password itself.
    Plain,
}

/// How the raw digest of a digest scheme is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Lowercase or uppercase hex.
    Hex,
    /// Standard base64.
    Base64,
}

/// Every scheme, for exhaustive tables and tests.
pub const ALL: [Scheme; 15] = [
    Scheme::Argon2id,
    Scheme::Argon2i,
    Scheme::Sha512Crypt,
    Scheme::Sha256Crypt,
    Scheme::BlfCrypt,
    Scheme::Md5Crypt,
    Scheme::Crypt,
    Scheme::Ssha512,
    Scheme::Ssha256,
    Scheme::Ssha,
    Scheme::Sha512,
    Scheme::Sha256,
    Scheme::Sha,
    Scheme::PlainMd5,
    Scheme::Plain,
];

impl Scheme {
    /// Dovecot's canonical name, as written in a `{NAME}` prefix.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Argon2id => "ARGON2ID",
            Scheme::Argon2i => "ARGON2I",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::Sha256Crypt => "SHA256-CRYPT",
            Scheme::BlfCrypt => "BLF-CRYPT",
            Scheme::Md5Crypt => "MD5-CRYPT",
            Scheme::Crypt => "CRYPT",
            Scheme::Ssha512 => "SSHA512",
            Scheme::Ssha256 => "SSHA256",
            Scheme::Ssha => "SSHA",
            Scheme::Sha512 => "SHA512",
            Scheme::Sha256 => "SHA256",
            Scheme::Sha => "SHA",
            Scheme::PlainMd5 => "PLAIN-MD5",
            Scheme::Plain => "PLAIN",
        }
    }

    /// Look up a scheme by Dovecot name or alias, case-insensitively; no `.HEX`/`.B64` suffix.
    ///
    /// Aliases as in Dovecot: `MD5` = MD5-CRYPT, `SHA1` = SHA, `CLEAR`/`CLEARTEXT` = PLAIN,
    /// `LDAP-MD5` = PLAIN-MD5 (its base64 form is recognised by length), `DES-CRYPT` = CRYPT.
    /// A suffix is refused here because a bare [`Scheme`] cannot carry it; it belongs in a
    /// stored `{NAME.HEX}` prefix.
    pub fn from_name(s: &str) -> Option<Scheme> {
        const NAMES: [(&str, Scheme); 21] = [
            ("ARGON2ID", Scheme::Argon2id),
            ("ARGON2I", Scheme::Argon2i),
            ("SHA512-CRYPT", Scheme::Sha512Crypt),
            ("SHA256-CRYPT", Scheme::Sha256Crypt),
            ("BLF-CRYPT", Scheme::BlfCrypt),
            ("MD5-CRYPT", Scheme::Md5Crypt),
            ("MD5", Scheme::Md5Crypt),
            ("CRYPT", Scheme::Crypt),
            ("DES-CRYPT", Scheme::Crypt),
            ("SSHA512", Scheme::Ssha512),
            ("SSHA256", Scheme::Ssha256),
            ("SSHA", Scheme::Ssha),
            ("SHA512", Scheme::Sha512),
            ("SHA256", Scheme::Sha256),
            ("SHA", Scheme::Sha),
            ("SHA1", Scheme::Sha),
            ("PLAIN-MD5", Scheme::PlainMd5),
            ("LDAP-MD5", Scheme::PlainMd5),
            ("PLAIN", Scheme::Plain),
            ("CLEAR", Scheme::Plain),
            ("CLEARTEXT", Scheme::Plain),
        ];
        NAMES.iter().find(|(name, _)| s.eq_ignore_ascii_case(name)).map(|&(_, scheme)| scheme)
    }

    /// Digest length for the unsalted digest schemes, whose encoding Dovecot guesses by length.
    pub(crate) fn raw_len(self) -> Option<usize> {
        match self {
            Scheme::Sha512 => Some(64),
            Scheme::Sha256 => Some(32),
            Scheme::Sha => Some(20),
            Scheme::PlainMd5 => Some(16),
            _ => None,
        }
    }

    /// True for the schemes whose stored value is a crypt(3)/PHC string: the deliberately slow
    /// ones (argon2, bcrypt, SHA-crypt take milliseconds of CPU; the digests microseconds).
    pub fn is_crypt(self) -> bool {
        matches!(
            self,
            Scheme::Argon2id
                | Scheme::Argon2i
                | Scheme::Sha512Crypt
                | Scheme::Sha256Crypt
                | Scheme::BlfCrypt
                | Scheme::Md5Crypt
                | Scheme::Crypt
        )
    }
}

/// Parse the inside of a `{...}` prefix: a name plus an optional `.hex`/`.b64`/`.base64` suffix.
///
/// Returns `None` for an unknown name or suffix (Dovecot treats both as an unknown scheme).
pub(crate) fn parse_prefix(s: &str) -> Option<(Scheme, Option<Encoding>)> {
    let (name, suffix) = match s.split_once('.') {
        Some((name, suffix)) => (name, Some(suffix)),
        None => (s, None),
    };
    let scheme = Scheme::from_name(name)?;
    let encoding = match suffix {
        None => None,
        Some(e) if e.eq_ignore_ascii_case("hex") => Some(Encoding::Hex),
        Some(e) if e.eq_ignore_ascii_case("b64") || e.eq_ignore_ascii_case("base64") => {
            Some(Encoding::Base64)
        }
        Some(_) => return None,
    };
    Some((scheme, encoding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for scheme in ALL {
            assert_eq!(Scheme::from_name(scheme.name()), Some(scheme));
            assert_eq!(Scheme::from_name(&scheme.name().to_ascii_lowercase()), Some(scheme));
        }
    }

    #[test]
    fn aliases() {
        let table = [
            ("md5", Scheme::Md5Crypt),
            ("SHA1", Scheme::Sha),
            ("clear", Scheme::Plain),
            ("CLEARTEXT", Scheme::Plain),
            ("Ldap-Md5", Scheme::PlainMd5),
            ("blf-crypt", Scheme::BlfCrypt),
            ("DES-CRYPT", Scheme::Crypt),
        ];
        for (name, scheme) in table {
            assert_eq!(Scheme::from_name(name), Some(scheme), "{name}");
        }
    }

    #[test]
    fn unknown_names() {
        for name in ["", "SMD5", "CRAM-MD5", "SHA256.HEX", "PLAIN ", "ARGON2D", "ARGON2ID\0"] {
            assert_eq!(Scheme::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn prefix_suffixes() {
        assert_eq!(parse_prefix("SHA256.HEX"), Some((Scheme::Sha256, Some(Encoding::Hex))));
        assert_eq!(parse_prefix("plain-md5.b64"), Some((Scheme::PlainMd5, Some(Encoding::Base64))));
        assert_eq!(parse_prefix("SSHA.base64"), Some((Scheme::Ssha, Some(Encoding::Base64))));
        assert_eq!(parse_prefix("SHA"), Some((Scheme::Sha, None)));
        assert_eq!(parse_prefix("SHA.rot13"), None);
        assert_eq!(parse_prefix("SHA."), None);
        assert_eq!(parse_prefix(".HEX"), None);
    }
}
