//! The name a daemon calls itself in greetings, Received: lines and bounces.

/// `configured` when set, else the kernel's host name (Postfix's myhostname default), else
/// `localhost`. Asked with gethostname(2), not read from /proc/sys/kernel/hostname, which a
/// unit with `ProcSubset=pid` does not see.
pub fn name(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn configured_name_wins() {
        assert_eq!(super::name("mx.b.test"), "mx.b.test");
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(super::name(""), kernel.trim());
    }
}
