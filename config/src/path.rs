//! File and socket paths, checked when the file is loaded: absolute (a daemon's working
//! directory is `/` under systemd, so a relative path would silently mean something else) and
//! free of NUL bytes.

use std::ffi::OsStr;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// An absolute path that must be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AbsPath(String);

/// An absolute path, or empty for "not set" (the key's doc says what that means).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct OptionalPath(String);

impl AbsPath {
    /// `path`, checked.
    pub fn new(path: impl Into<String>) -> Result<AbsPath, String> {
        let path = path.into();
        check(&path, false)?;
        Ok(AbsPath(path))
    }

    /// As a `Path`.
    pub fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }

    /// As text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl OptionalPath {
    /// `path` (empty for none), checked.
    pub fn new(path: impl Into<String>) -> Result<OptionalPath, String> {
        let path = path.into();
        check(&path, true)?;
        Ok(OptionalPath(path))
    }

    /// The path, if set.
    pub fn get(&self) -> Option<&Path> {
        (!self.0.is_empty()).then(|| Path::new(&self.0))
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As text (empty when not set).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check(path: &str, empty_ok: bool) -> Result<(), String> {
    if path.is_empty() {
        return if empty_ok { Ok(()) } else { Err("a path is required here".into()) };
    }
    if path.contains('\0') {
        return Err("a path cannot contain a NUL byte".into());
    }
    if !path.starts_with('/') {
        return Err(format!("`{path}` is not an absolute path"));
    }
    Ok(())
}

macro_rules! text_impls {
    ($t:ident, $empty_ok:expr) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                check(&s, $empty_ok).map_err(serde::de::Error::custom)?;
                Ok($t(s))
            }
        }

        impl AsRef<Path> for $t {
            fn as_ref(&self) -> &Path {
                Path::new(&self.0)
            }
        }

        impl AsRef<OsStr> for $t {
            fn as_ref(&self) -> &OsStr {
                OsStr::new(&self.0)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_impls!(AbsPath, false);
text_impls!(OptionalPath, true);

/// `AbsPath::new(literal)` for defaults, which are known good.
pub(crate) fn abs(path: &str) -> AbsPath {
    AbsPath::new(path).expect("default paths are absolute")
}

/// `OptionalPath::new(literal)` for defaults.
pub(crate) fn optional(path: &str) -> OptionalPath {
    OptionalPath::new(path).expect("default paths are absolute")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_be_absolute() {
        assert!(AbsPath::new("/var/spool/mailroom").is_ok());
        assert!(AbsPath::new("").unwrap_err().contains("required"));
        assert!(AbsPath::new("spool").unwrap_err().contains("`spool` is not an absolute path"));
        assert!(AbsPath::new("/a\0b").is_err());
        assert_eq!(OptionalPath::new("").unwrap().get(), None);
        assert_eq!(OptionalPath::new("/x").unwrap().get(), Some(Path::new("/x")));
        assert!(OptionalPath::new("x").is_err());
    }
}
