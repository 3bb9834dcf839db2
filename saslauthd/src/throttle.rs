//! Failed-login throttling per login and per client address: each further failure within the
//! window doubles the delay before the answer, up to a maximum; a success clears the login.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys remembered; past it, stale ones are dropped first.
const MAX_KEYS: usize = 100_000;

/// Failure counters with growing delays.
pub struct Throttle {
    base: Duration,
    max: Duration,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Delays start at `base`, double per failure, stop at `max`; counts expire after `window`.
    pub fn new(base: Duration, max: Duration, window: Duration) -> Self {
        Throttle { base, max, window, failures: Mutex::new(HashMap::new()) }
    }

    /// Count a failure for each key; returns how long to wait before answering.
    pub fn failure(&self, keys: &[&str]) -> Duration {
        let mut map = self.failures.lock().expect("throttle lock");
        if map.len() >= MAX_KEYS {
            let window = self.window;
            map.retain(|_, (_, at)| at.elapsed() < window);
        }
        let mut worst = 0;
        for key in keys {
            let entry = map.entry(key.to_string()).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= self.window {
                entry.0 = 0;
            }
            entry.0 = entry.0.saturating_add(1);
            entry.1 = Instant::now();
            worst = worst.max(entry.0);
        }
        self.delay(worst)
    }

    /// A successful login clears its own counter (not the client address's).
    pub fn success(&self, login: &str) {
        self.failures.lock().expect("throttle lock").remove(login);
    }

    fn delay(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (failures - 1).min(20);
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_cap() {
        let t =
            Throttle::new(Duration::from_millis(100), Duration::from_millis(1000), Duration::from_secs(60));
        let d: Vec<u128> = (0..6).map(|_| t.failure(&["bob@b.test"]).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 800, 1000, 1000]);
        t.success("bob@b.test");
        assert_eq!(t.failure(&["bob@b.test"]).as_millis(), 100);
    }

    #[test]
    fn the_client_address_counts_across_logins() {
        let t = Throttle::new(Duration::from_millis(100), Duration::from_secs(10), Duration::from_secs(60));
        t.failure(&["a@b.test", "192.0.2.1"]);
        t.failure(&["b@b.test", "192.0.2.1"]);
        assert_eq!(t.failure(&["c@b.test", "192.0.2.1"]).as_millis(), 400);
        t.success("c@b.test");
        assert_eq!(t.failure(&["d@b.test", "192.0.2.1"]).as_millis(), 800);
    }

    #[test]
    fn counts_expire() {
        let t = Throttle::new(Duration::from_millis(100), Duration::from_secs(10), Duration::ZERO);
        t.failure(&["bob"]);
        assert_eq!(t.failure(&["bob"]).as_millis(), 100);
    }
}
