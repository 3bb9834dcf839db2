//! The Sender Rewriting Scheme as postsrsd (libsrs2) writes it, so that mail we forward to
//! another domain passes SPF there and its bounces find their way back.
//!
//! `user@orig.example` leaving through us becomes `SRS0=HHHH=TT=orig.example=user@srs_domain`:
//! `TT` is the day (base32, two characters, 1024-day cycle), `HHHH` the first four base64
//! characters of HMAC-SHA1(secret, lowercased `TT` + domain + user). A sender that already is
//! `SRS0=...@hop.example` becomes `SRS1=HHHH=hop.example==HHHH=TT=orig.example=user@srs_domain`
//! (an SRS1 keeps its first hop and gets our hash). Reversal checks the hash (case-insensitive,
//! against every secret) and, for SRS0, that the stamp is at most 21 days old.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Days an SRS0 address stays valid (libsrs2's maxage).
pub const MAX_AGE_DAYS: u64 = 21;
/// Characters of the hash written and required (libsrs2's hashlength and hashmin).
const HASH_LEN: usize = 4;
/// One day, the stamp's unit.
const DAY: u64 = 24 * 3600;
/// The stamp's alphabet (RFC 4648 base32).
const STAMP_CHARS: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The stamp wraps around after this many days.
const STAMP_SLOTS: u64 = 1024;

/// Why an address at our SRS domain is not reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not SRS0/SRS1 syntax.
    Malformed,
    /// No secret of ours made this hash.
    BadHash,
    /// The stamp is older than [`MAX_AGE_DAYS`].
    Expired,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Invalid::Malformed => "not an SRS address",
            Invalid::BadHash => "hash invalid",
            Invalid::Expired => "time stamp out of date",
        })
    }
}

/// The rewriter: our SRS domain, the secrets, the domains left alone.
#[derive(Clone)]
pub struct Srs {
    domain: String,
    /// The first signs; all verify.
    secrets: Vec<Vec<u8>>,
    exclude: Vec<String>,
}

impl std::fmt::Debug for Srs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Srs").field("domain", &self.domain).field("secrets", &self.secrets.len()).finish()
    }
}

impl Srs {
    /// A rewriter for `domain`; `secrets` is the secret file's text, one secret a line as
    /// postsrsd reads it (line ends dropped, empty lines skipped).
    pub fn new(domain: &str, secrets: &str, exclude: &[String]) -> Result<Srs, String> {
        let secrets: Vec<Vec<u8>> =
            secrets.split(['\r', '\n']).filter(|l| !l.is_empty()).map(|l| l.as_bytes().to_vec()).collect();
        if secrets.is_empty() {
            return Err("the SRS secret file holds no secret".into());
        }
        let exclude = exclude.iter().map(|d| d.to_ascii_lowercase()).collect();
        Ok(Srs { domain: domain.trim_end_matches('.').to_ascii_lowercase(), secrets, exclude })
    }

    /// From `[mta]`: `None` without `srs_domain`.
    pub fn load(m: &config::Mta) -> Result<Option<Srs>, String> {
        if m.srs_domain.is_empty() {
            return Ok(None);
        }
        let file = m.srs_secret_file.get().ok_or("srs_domain needs srs_secret_file")?;
        let text =
            std::fs::read_to_string(file).map_err(|e| format!("srs_secret_file {}: {e}", file.display()))?;
        Srs::new(&m.srs_domain, &text, &m.srs_exclude_domains).map(Some)
    }

    /// The SRS domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Is `domain` never rewritten: the SRS domain, or in `srs_exclude_domains` (`.parent`
    /// entries cover the subdomains, as in postsrsd)?
    pub fn excluded(&self, domain: &str) -> bool {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        d == self.domain
            || self.exclude.iter().any(|x| if x.starts_with('.') { d.ends_with(x.as_str()) } else { d == *x })
    }

    /// The sender to use when forwarding mail from `sender` at time `now` (Unix seconds):
    /// `None` when it stays as it is (the null sender, no domain, an excluded domain, or
    /// already one of our valid SRS addresses).
    pub fn forward(&self, sender: &str, now: u64) -> Option<String> {
        let (user, host) = sender.split_once('@')?;
        if user.is_empty() || host.is_empty() || self.excluded(host) || self.reverse(sender, now).is_ok() {
            return None;
        }
        let tag = |t: &str| user.len() > 4 && user[..4].eq_ignore_ascii_case(t) && is_sep(user.as_bytes()[4]);
        let out = if tag("SRS1") {
            // SRS1=hash=firsthop=rest: keep the first hop and the rest, hash them again.
            let mut parts = user[5..].splitn(3, '=');
            let (_hash, first_hop, rest) = (parts.next()?, parts.next()?, parts.next()?);
            let hash = self.hash(0, &[first_hop, rest]);
            format!("SRS1={hash}={first_hop}={rest}@{}", self.domain)
        } else if tag("SRS0") {
            // SRS0 from another forwarder: that forwarder becomes the first hop.
            let rest = &user[4..];
            let hash = self.hash(0, &[host, rest]);
            format!("SRS1={hash}={host}={rest}@{}", self.domain)
        } else {
            let stamp = stamp(now);
            let hash = self.hash(0, &[&stamp, host, user]);
            format!("SRS0={hash}={stamp}={host}={user}@{}", self.domain)
        };
        Some(out)
    }

    /// Is `addr` an SRS0 or SRS1 address at our SRS domain (whether valid or not)?
    pub fn is_ours(&self, addr: &str) -> bool {
        addr.rsplit_once('@').is_some_and(|(user, host)| {
            host.trim_end_matches('.').eq_ignore_ascii_case(&self.domain) && is_srs(user)
        })
    }

    /// The address an SRS address stands for: the original sender for SRS0, the first hop's
    /// SRS0 address for SRS1. The domain part of `addr` is not looked at.
    pub fn reverse(&self, addr: &str, now: u64) -> Result<String, Invalid> {
        let user = addr.split_once('@').map_or(addr, |(u, _)| u);
        if !is_srs(user) {
            return Err(Invalid::Malformed);
        }
        let mut parts = user[5..].splitn(2, '=');
        let hash = parts.next().filter(|h| !h.is_empty()).ok_or(Invalid::Malformed)?;
        let rest = parts.next().ok_or(Invalid::Malformed)?;
        if user.as_bytes()[3] == b'1' {
            let (host, rest) = rest.split_once('=').ok_or(Invalid::Malformed)?;
            self.check_hash(hash, &[host, rest])?;
            return Ok(format!("SRS0{rest}@{host}"));
        }
        let mut parts = rest.splitn(3, '=');
        let (stamp, host, user) = (
            parts.next().ok_or(Invalid::Malformed)?,
            parts.next().ok_or(Invalid::Malformed)?,
            parts.next().ok_or(Invalid::Malformed)?,
        );
        check_stamp(stamp, now)?;
        self.check_hash(hash, &[stamp, host, user])?;
        Ok(format!("{user}@{host}"))
    }

    /// HMAC-SHA1 with secret `idx` over the lowercased `parts`, base64, first [`HASH_LEN`].
    fn hash(&self, idx: usize, parts: &[&str]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.secrets[idx]).expect("HMAC takes any key length");
        for p in parts {
            mac.update(p.to_ascii_lowercase().as_bytes());
        }
        let mut b64 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        b64.truncate(HASH_LEN);
        b64
    }

    /// libsrs2's check: at least [`HASH_LEN`] characters, equal to one secret's hash ignoring
    /// case (some MTAs lowercase local parts).
    fn check_hash(&self, given: &str, parts: &[&str]) -> Result<(), Invalid> {
        if given.len() != HASH_LEN {
            return Err(Invalid::BadHash);
        }
        let ok = (0..self.secrets.len()).any(|i| self.hash(i, parts).eq_ignore_ascii_case(given));
        if ok { Ok(()) } else { Err(Invalid::BadHash) }
    }
}

fn is_sep(b: u8) -> bool {
    matches!(b, b'=' | b'-' | b'+')
}

/// `SRS0` or `SRS1` (any case) and a separator.
fn is_srs(user: &str) -> bool {
    let b = user.as_bytes();
    b.len() > 5 && b[..3].eq_ignore_ascii_case(b"SRS") && matches!(b[3], b'0' | b'1') && is_sep(b[4])
}

/// Today's stamp: the day number's low ten bits as two base32 characters.
fn stamp(now: u64) -> String {
    let day = now / DAY;
    let c = |v: u64| STAMP_CHARS[(v & 31) as usize] as char;
    [c(day >> 5), c(day)].iter().collect()
}

/// Is `stamp` from the last [`MAX_AGE_DAYS`] days (modulo the 1024-day cycle)?
fn check_stamp(stamp: &str, now: u64) -> Result<(), Invalid> {
    if stamp.len() != 2 {
        return Err(Invalid::Malformed);
    }
    let mut then = 0u64;
    for ch in stamp.bytes() {
        let v = STAMP_CHARS.iter().position(|&s| s == ch.to_ascii_uppercase()).ok_or(Invalid::Malformed)?;
        then = (then << 5) | v as u64;
    }
    let mut today = (now / DAY) % STAMP_SLOTS;
    while today < then {
        today += STAMP_SLOTS;
    }
    if today <= then + MAX_AGE_DAYS { Ok(()) } else { Err(Invalid::Expired) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07, when postsrsd 1.10 (Debian) wrote the vectors below with secret
    /// `tops3cr3t`, domain srs.test and `-X.excluded.test,plain.test`.
    const NOW: u64 = 1_796_677_226;

    fn srs() -> Srs {
        Srs::new("srs.test", "tops3cr3t\nold-secret\n", &[".excluded.test".into(), "plain.test".into()])
            .unwrap()
    }

    #[test]
    fn forward_matches_postsrsd() {
        let s = srs();
        let cases = [
            ("user@example.org", "SRS0=dab5=J2=example.org=user@srs.test"),
            ("User.Name+tag@Example.ORG", "SRS0=dhcX=J2=Example.ORG=User.Name+tag@srs.test"),
            (
                "SRS0=abcd=AB=orig.example=joe@hop.example",
                "SRS1=RwkE=hop.example==abcd=AB=orig.example=joe@srs.test",
            ),
            (
                "SRS1=zzzz=first.example==abcd=AB=orig.example=joe@hop2.example",
                "SRS1=7iK8=first.example==abcd=AB=orig.example=joe@srs.test",
            ),
        ];
        for (sender, want) in cases {
            assert_eq!(s.forward(sender, NOW).as_deref(), Some(want), "{sender}");
        }
        for same in ["x@srs.test", "y@sub.excluded.test", "z@plain.test", "", "nodomain"] {
            assert_eq!(s.forward(same, NOW), None, "{same}");
        }
        assert!(s.forward("y@excluded.test", NOW).is_some(), "a .parent entry covers only subdomains");
        // Our own valid SRS address at another name of ours is not wrapped again.
        assert_eq!(s.forward("SRS0=dab5=J2=example.org=user@other.test", NOW), None);
    }

    #[test]
    fn reverse_matches_postsrsd() {
        let s = srs();
        assert_eq!(s.reverse("SRS0=dab5=J2=example.org=user@srs.test", NOW).unwrap(), "user@example.org");
        assert_eq!(s.reverse("srs0=dab5=j2=example.org=user@srs.test", NOW).unwrap(), "user@example.org");
        assert_eq!(
            s.reverse("SRS1=RwkE=hop.example==abcd=AB=orig.example=joe@srs.test", NOW).unwrap(),
            "SRS0=abcd=AB=orig.example=joe@hop.example"
        );
        assert_eq!(s.reverse("SRS0=AAAA=J2=example.org=user@srs.test", NOW), Err(Invalid::BadHash));
        assert_eq!(s.reverse("SRS0=dab=J2=example.org=user@srs.test", NOW), Err(Invalid::BadHash));
        assert_eq!(s.reverse("bob@srs.test", NOW), Err(Invalid::Malformed));
        assert_eq!(s.reverse("SRS0=dab5=J2@srs.test", NOW), Err(Invalid::Malformed));
        assert_eq!(s.reverse("SRS0=dab5=J!=example.org=user@srs.test", NOW), Err(Invalid::Malformed));
        assert_eq!(
            s.reverse("SRS0=dab5=J2ABCDEFGHIJKLMNOP=example.org=user@srs.test", NOW),
            Err(Invalid::Malformed)
        );
    }

    #[test]
    fn stamps_live_21_days_across_the_cycle() {
        let s = srs();
        let sent = s.forward("user@example.org", NOW).unwrap();
        assert_eq!(s.reverse(&sent, NOW + 21 * DAY).unwrap(), "user@example.org");
        assert_eq!(s.reverse(&sent, NOW + 22 * DAY), Err(Invalid::Expired));
        // Day 1023 of a cycle, read on day 3 of the next.
        let late = 1023 * DAY + 5;
        let sent = s.forward("user@example.org", late).unwrap();
        assert_eq!(s.reverse(&sent, late + 4 * DAY).unwrap(), "user@example.org");
    }

    #[test]
    fn every_secret_verifies_the_first_signs() {
        let old = Srs::new("srs.test", "old-secret", &[]).unwrap();
        let sent = old.forward("user@example.org", NOW).unwrap();
        assert_eq!(srs().reverse(&sent, NOW).unwrap(), "user@example.org");
        let new = srs().forward("user@example.org", NOW).unwrap();
        assert_eq!(old.reverse(&new, NOW), Err(Invalid::BadHash));
        assert!(Srs::new("srs.test", "\n\n", &[]).is_err());
    }

    #[test]
    fn ours_means_srs_syntax_at_our_domain() {
        let s = srs();
        assert!(s.is_ours("SRS0=x=y=z=w@srs.test"));
        assert!(s.is_ours("srs1+x@SRS.test"));
        assert!(!s.is_ours("SRS0=x=y=z=w@other.test"));
        assert!(!s.is_ours("bob@srs.test"));
    }
}
