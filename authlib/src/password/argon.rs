//! ARGON2I / ARGON2ID: PHC strings as libsodium (and so Dovecot) writes them.

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;

use super::HashError;
use super::digest::ct_eq;
use super::scheme::Scheme;

/// Largest Argon2 memory cost (KiB) we will allocate: 256 MiB, libsodium's MODERATE level and
/// 4x Dovecot's default; a hostile DB row must not make one login allocate gigabytes.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// Largest Argon2 time cost (passes): 5x Dovecot's default of 3 for ARGON2ID.
pub const MAX_ARGON2_PASSES: u32 = 16;
/// Largest memory x passes (KiB): 1 GiB of block passes, 1.2-2.5 s here, where Dovecot's
/// default (64 MiB x 3) is 0.35 s; time grows with the product, not with either alone.
pub const MAX_ARGON2_WORK_KIB: u64 = 1 << 20;
/// Largest Argon2 parallelism; we compute lanes on one thread, so lanes only add overhead.
pub const MAX_ARGON2_LANES: u32 = 16;

/// Dovecot's (libsodium's OPSLIMIT/MEMLIMIT_INTERACTIVE) parameters for new hashes:
/// (memory KiB, passes, lanes). `doveadm pw -s ARGON2ID` writes m=65536,t=3,p=1 and
/// `-s ARGON2I` writes m=32768,t=4,p=1.
fn new_params(scheme: Scheme) -> (Algorithm, u32, u32, u32) {
    match scheme {
        Scheme::Argon2i => (Algorithm::Argon2i, 32 * 1024, 4, 1),
        _ => (Algorithm::Argon2id, 64 * 1024, 3, 1),
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

/// Hash with Dovecot's defaults and a random 16-byte salt; returns the PHC string.
pub(crate) fn hash(scheme: Scheme, password: &[u8]) -> Result<String, HashError> {
    use argon2::PasswordHasher as _;
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(format!("{}: {e}", scheme.name()));
    let (algorithm, m, t, p) = new_params(scheme);
    let params = Params::new(m, t, p, Some(32)).map_err(|e| failed(&e))?;
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
    fn new_hashes_use_dovecot_parameters() {
        let id = hash(Scheme::Argon2id, b"pw").unwrap();
        assert!(id.starts_with("$argon2id$v=19$m=65536,t=3,p=1$"), "{id}");
        assert!(verify(&id, b"pw").unwrap());
        let i = hash(Scheme::Argon2i, b"pw").unwrap();
        assert!(i.starts_with("$argon2i$v=19$m=32768,t=4,p=1$"), "{i}");
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
