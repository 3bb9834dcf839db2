//! Constructors for defaults of checked types: the literals are known good, so a failure here
//! is a bug in a default, caught by every test that loads a configuration.

use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU32, NonZeroU64, NonZeroUsize};

/// A listen address literal.
pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("default listen addresses parse")
}

pub(crate) fn nz16(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("non-zero default")
}

pub(crate) fn nz32(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero default")
}

pub(crate) fn nz64(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).expect("non-zero default")
}

pub(crate) fn nzusize(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("non-zero default")
}
