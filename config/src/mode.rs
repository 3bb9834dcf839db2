//! File modes written the way sysadmins write them: `"0660"`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A permission mode, given in the file as an octal string (`"0777"`) or a TOML `0o777`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl Serialize for FileMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u32),
        }
        let mode = match Raw::deserialize(d)? {
            Raw::Text(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
                .map_err(|_| serde::de::Error::custom(format!("`{s}` is not an octal mode like \"0660\"")))?,
            Raw::Number(n) => n,
        };
        if mode > 0o7777 {
            return Err(serde::de::Error::custom(format!("mode {mode:o} is out of range")));
        }
        Ok(FileMode(mode))
    }
}
