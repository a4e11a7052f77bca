//! A namespace of the index (one per crawl session, or one a CLI crawl names): parsed once where
//! it comes in, so nothing after it checks it again.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest namespace name.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// 1-64 letters, digits, `-` and `_`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Namespace(String);

impl Namespace {
    pub fn parse(name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.len() <= MAX_NAMESPACE_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(name.to_string()))
        } else {
            let shown: String = name.chars().take(MAX_NAMESPACE_LEN + 1).collect();
            Err(Error::Invalid(format!(
                "namespace {shown:?} must be 1-{MAX_NAMESPACE_LEN} letters, digits, '-' or '_'"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Namespace {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_once_where_they_come_in() {
        assert_eq!(Namespace::parse("crawl-1_a").unwrap().as_str(), "crawl-1_a");
        for bad in ["", "a b", "../x", &"x".repeat(65), "ns;drop"] {
            assert!(Namespace::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&Namespace::parse("s-1").unwrap()).unwrap();
        assert_eq!(json, "\"s-1\"");
        assert!(serde_json::from_str::<Namespace>("\"../etc\"").is_err());
    }
}
