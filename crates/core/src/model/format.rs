//! What a picture is, as filters name it: its file format, its shape and its brightness.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
    Gif,
    Svg,
    Avif,
}

impl ImageFormat {
    /// Every format a filter can name, in the order "every format but X" lists them.
    pub const ALL: [Self; 6] = [Self::Jpeg, Self::Png, Self::Webp, Self::Gif, Self::Svg, Self::Avif];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
            Self::Svg => "svg",
            Self::Avif => "avif",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "jpeg" | "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::Webp),
            "gif" => Some(Self::Gif),
            "svg" | "svg+xml" => Some(Self::Svg),
            "avif" => Some(Self::Avif),
            _ => None,
        }
    }

    /// The format a URL names: its file extension, a `format`/`fm` parameter, or a data URI's type.
    pub fn from_url(url: &url::Url) -> Option<Self> {
        if url.scheme() == "data" {
            let mime = url.path().split([';', ',']).next()?;
            return Self::parse(mime.strip_prefix("image/")?);
        }
        let from_query = url.query_pairs().find(|(k, _)| k == "format" || k == "fm").and_then(|(_, v)| Self::parse(&v));
        let file = url.path().rsplit('/').next()?;
        from_query.or_else(|| Self::parse(file.rsplit_once('.')?.1))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    Landscape,
    Portrait,
    Square,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Dark,
    Light,
}
