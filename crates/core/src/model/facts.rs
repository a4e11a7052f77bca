//! What an image's bytes told, once it was fetched and analysed.

use serde::{Deserialize, Serialize};

use super::ImageFormat;

/// What an image's bytes told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFacts {
    pub format: ImageFormat,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Size of the file.
    pub bytes: u64,
    /// Whether any pixel is (partly) transparent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparent: Option<bool>,
    /// Mean brightness, 0 (black) to 255 (white).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub luma: Option<u8>,
    /// Difference hash, as 16 hex digits (a u64 does not survive JavaScript's numbers).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex64")]
    pub dhash: Option<u64>,
}

/// Brightness below this is "dark", above [`LIGHT_LUMA`] "light".
pub const DARK_LUMA: u8 = 96;
pub const LIGHT_LUMA: u8 = 160;

mod hex64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(h) => s.serialize_str(&format!("{h:016x}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| u64::from_str_radix(&s, 16).map_err(serde::de::Error::custom)).transpose()
    }
}

/// Differing bits of two perceptual hashes: up to [`SAME_PICTURE_BITS`] means the same picture.
pub fn distance(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Hashes this close are one picture (scaled, re-encoded or lightly edited).
pub const SAME_PICTURE_BITS: u32 = 6;
