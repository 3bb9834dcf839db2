//! ARGON2I / ARGON2ID: PHC strings as libsodium (and so Dovecot) writes them.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;

use super::HashError;
use super::digest::ct_eq;
use super::scheme::Scheme;

pub use config::{MAX_ARGON2_LANES, MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PASSES, MAX_ARGON2_WORK_KIB};

/// The cost of new ARGON2 hashes: `[database] argon2_memory_kib`, `argon2_passes` and
/// `argon2_lanes`, by default OWASP's for interactive logins (m=19456, t=2, p=1), where
/// Dovecot writes m=65536, t=3 (about 4x the time per login). Any stored cost within the caps
/// verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub passes: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Argon2Cost {
    /// The cost the configuration asks for (checked against the caps when it was loaded).
    pub fn of(cfg: &config::Database) -> Argon2Cost {
        Argon2Cost {
            memory_kib: cfg.argon2_memory_kib.get(),
            passes: cfg.argon2_passes.get(),
            lanes: cfg.argon2_lanes.get(),
        }
    }
}

impl Default for Argon2Cost {
    fn default() -> Self {
        Argon2Cost::of(&config::Database::default())
    }
}

/// Verify a `$argon2i$` or `$argon2id$` string; the caller has checked the prefix.
pub(crate) fn verify(body: &str, password: &[u8]) -> Result<bool, HashError> {
    let scheme = if body.starts_with("$argon2id$") { Scheme::Argon2id } else { Scheme::Argon2i };
    let malformed = || HashError::Malformed { scheme: scheme.name() };
    let parsed = PasswordHash::new(body).map_err(|_| malformed())?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|_| malformed())?;
    if algorithm == Algorithm::Argon2d {
        return Err(malformed());
    }
    // A missing v= means the original 1.0 algorithm (reference implementation and libsodium).
    let version = match parsed.version {
        None => Version::V0x10,
        Some(v) => Version::try_from(v).map_err(|_| malformed())?,
    };
    let params = Params::try_from(&parsed).map_err(|_| malformed())?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB
        || params.t_cost() > MAX_ARGON2_PASSES
        || params.p_cost() > MAX_ARGON2_LANES
        || u64::from(params.m_cost()) * u64::from(params.t_cost()) > MAX_ARGON2_WORK_KIB
    {
        return Err(malformed());
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(malformed());
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|_| malformed())?;
    if password.len() > super::MAX_PASSWORD_LEN {
        return Ok(false);
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into(password, salt, &mut out)
        .map_err(|_| malformed())?;
    Ok(ct_eq(&out, expected.as_bytes()))
}

/// Hash at `cost` with a random 16-byte salt; returns the PHC string.
pub(crate) fn hash(scheme: Scheme, password: &[u8], cost: Argon2Cost) -> Result<String, HashError> {
    use argon2::PasswordHasher as _;
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(format!("{}: {e}", scheme.name()));
    let algorithm = if scheme == Scheme::Argon2i { Algorithm::Argon2i } else { Algorithm::Argon2id };
    let params = Params::new(cost.memory_kib, cost.passes, cost.lanes, Some(32)).map_err(|e| failed(&e))?;
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.try_fill_bytes(&mut salt).map_err(|e| failed(&e))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| failed(&e))?;
    let phc = Argon2::new(algorithm, Version::V0x13, params)
        .hash_password(password, &salt)
        .map_err(|e| failed(&e))?;
    Ok(phc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // `doveadm pw -s ARGON2ID -p test` and `-s ARGON2I` on Dovecot 2.3.19.
    const DOVEADM_ID: &str =
        "$argon2id$v=19$m=65536,t=3,p=1$vD9nfkT/ZnxAuCfetm7SSw$1ZK+Jk7hgpABMolECoyKiYU6w9nvrQrPpGziW3o8zXE";
    const DOVEADM_I: &str =
        "$argon2i$v=19$m=32768,t=4,p=1$tIIljRWk8MFmJt3hY4BEvg$Of4wxdNO+8Q+o2RR2qfjJykCBWD2uqXQutBHbqRLKKw";

    #[test]
    fn doveadm_hashes() {
        assert!(verify(DOVEADM_ID, b"test").unwrap());
        assert!(!verify(DOVEADM_ID, b"tesT").unwrap());
        assert!(verify(DOVEADM_I, b"test").unwrap());
        assert!(!verify(DOVEADM_I, b"").unwrap());
    }

    #[test]
    fn new_hashes_use_the_configured_cost() {
        let id = hash(Scheme::Argon2id, b"pw", Argon2Cost::default()).unwrap();
        assert!(id.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{id}");
        assert!(verify(&id, b"pw").unwrap());
        let cost = Argon2Cost { memory_kib: 32 * 1024, passes: 4, lanes: 1 };
        let i = hash(Scheme::Argon2i, b"pw", cost).unwrap();
        assert!(i.starts_with("$argon2i$v=19$m=32768,t=4,p=1$"), "{i}");
        assert!(verify(&i, b"pw").unwrap());
        // 16-byte salt = 22 unpadded base64 characters; 32-byte output = 43.
        let parts: Vec<&str> = id.split('$').collect();
        assert_eq!(parts[4].len(), 22);
        assert_eq!(parts[5].len(), 43);
    }

    #[test]
    fn costly_parameters_are_refused_before_hashing() {
        let tail = "$vD9nfkT/ZnxAuCfetm7SSw$1ZK+Jk7hgpABMolECoyKiYU6w9nvrQrPpGziW3o8zXE";
        for params in [
            "m=4194304,t=3,p=1",
            "m=262144,t=16,p=1",
            "m=65536,t=1000000,p=1",
            "m=65536,t=3,p=64",
            "m=4294967295,t=4294967295,p=1",
        ] {
            let body = format!("$argon2id$v=19${params}{tail}");
            assert!(matches!(verify(&body, b"test"), Err(HashError::Malformed { .. })), "{params}");
        }
    }

    #[test]
    fn missing_version_means_v10() {
        let params = Params::new(64, 1, 1, Some(32)).unwrap();
        let mut out = [0u8; 32];
        Argon2::new(Algorithm::Argon2i, Version::V0x10, params)
            .hash_password_into(b"pw", b"saltsalt", &mut out)
            .unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let body = format!("$argon2i$m=64,t=1,p=1${}${}", b64.encode(b"saltsalt"), b64.encode(out));
        assert!(verify(&body, b"pw").unwrap());
    }
}
