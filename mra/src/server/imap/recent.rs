//! The messages a session reports as `\Recent` (RFC 3501 §2.3.2): those that were in `new/`
//! when this session first saw them. A sorted list of UIDs rather than a hash set: a session
//! holds it for as long as it stays connected (thousands in IDLE), and it is usually empty.

/// A set of UIDs, ascending.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recent(Vec<u32>);

impl Recent {
    /// Whether `uid` is recent.
    pub fn contains(&self, uid: &u32) -> bool {
        self.0.binary_search(uid).is_ok()
    }

    /// Adds `uid`; false if it was there.
    pub fn insert(&mut self, uid: u32) -> bool {
        match self.0.binary_search(&uid) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, uid);
                true
            }
        }
    }

    /// Removes `uid`; false if it was not there.
    pub fn remove(&mut self, uid: &u32) -> bool {
        match self.0.binary_search(uid) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Gives back memory a shrunken set no longer uses.
    pub fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl FromIterator<u32> for Recent {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Recent {
        let mut v: Vec<u32> = iter.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        Recent(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_set() {
        let mut r: Recent = [5, 1, 3, 3].into_iter().collect();
        assert_eq!(r.len(), 3);
        assert!(r.contains(&1) && r.contains(&3) && r.contains(&5));
        assert!(r.insert(4) && !r.insert(4));
        assert!(r.remove(&1) && !r.remove(&1));
        assert!(r.contains(&4) && !r.contains(&2));
        assert_eq!(r.len(), 3);
    }
}
