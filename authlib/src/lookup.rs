//! The three answers of every lookup: found, not found, temporarily unavailable.

/// The directory cannot answer now (database down, timeout, a row it cannot trust).
/// Callers answer 4xx / `temp_fail` / `[SYS/TEMP]`, never "unknown user" or "wrong password".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("directory temporarily unavailable: {0}")]
pub struct Unavailable(pub String);

/// `Ok(Some(_))` found, `Ok(None)` not found (permanent), `Err(Unavailable)` try again later.
pub type Lookup<T> = Result<Option<T>, Unavailable>;
