//! The name a daemon calls itself in greetings, Received: lines and bounces.

/// `configured` when set, else the kernel's host name (Postfix's myhostname default), else
/// `localhost`.
pub fn name(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn configured_name_wins() {
        assert_eq!(super::name("mx.b.test"), "mx.b.test");
        assert!(!super::name("").is_empty());
    }
}
