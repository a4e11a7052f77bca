//! An image of a page, as extraction finds it and everything after it reads it: its URLs, the
//! words around it, and (once analysed) what its bytes told.

use serde::{Deserialize, Serialize};
use url::Url;

use super::{ImageFacts, ImageFormat};

/// Longest text kept in any one context field, in characters (the surrounding words excepted).
pub const MAX_FIELD_CHARS: usize = 300;
/// Longest surrounding text kept (`nearby_text`), in characters. An article's paragraph often
/// names what its picture shows only near its end ("… was replaced with George Skipper's Royal
/// Arcade"): the keyword leg reads all of this, the embedding its first [`MAX_FIELD_CHARS`].
pub const MAX_NEARBY_CHARS: usize = 1_000;

/// Where in the page an image was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    Img,
    Picture,
    VideoPoster,
    InputImage,
    SvgImage,
    InlineStyle,
    StyleSheet,
    OgImage,
    TwitterImage,
    LinkImageSrc,
    JsonLd,
}

/// One URL under which an image is available.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageVariant {
    pub url: Url,
    /// `w` descriptor, or the width the URL names (`-800x600.jpg`, `?w=800`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// `x` descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub density: Option<f64>,
    /// `<source media>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    /// `<source type>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
}

/// More images than this under one heading make it a group's heading.
pub const HEADING_GROUP: usize = 3;

/// The words and facts around an image. Every text field is whitespace-collapsed and capped at
/// [`MAX_FIELD_CHARS`], the surrounding text at [`MAX_NEARBY_CHARS`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageContext {
    pub alt: String,
    pub title: String,
    pub aria_label: String,
    pub figcaption: String,
    /// The nearest heading before the image.
    pub heading: String,
    /// The heading stands over more than [`HEADING_GROUP`] images of the page (a gallery's
    /// "Photos"): it names the group, not this image, and is not part of what the image means.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub heading_over_many: bool,
    /// Text of the image's surrounding block (or of the text blocks beside it).
    pub nearby_text: String,
    pub page_title: String,
    /// The link the image sits in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_href: Option<String>,
    pub css_classes: Vec<String>,
    /// Words of the file name (`red-kayak_2.jpg` -> `red`, `kayak`).
    pub filename_tokens: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_height: Option<u32>,
    pub lazy: bool,
}

impl ImageContext {
    /// The words a person reads with the image: alt, else caption, label, title or nearby text.
    pub fn description(&self) -> &str {
        [&self.alt, &self.figcaption, &self.aria_label, &self.title, &self.nearby_text]
            .into_iter()
            .find(|s| !s.is_empty())
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// One image of a page: its best (largest) variant and all others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub url: Url,
    pub page_url: Url,
    pub source: ImageSource,
    pub variants: Vec<ImageVariant>,
    pub context: ImageContext,
    /// What the image's bytes told, once it has been fetched and analysed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<ImageFacts>,
    /// Whether the page's HTML had it, or only the page rendered in a browser did.
    #[serde(default)]
    pub found_by: FoundBy,
}

/// How an image was found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundBy {
    /// In the page's HTML as the server sent it.
    #[default]
    Html,
    /// Only in the DOM after the page's scripts ran.
    Render,
}

impl FoundBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::Render => "render",
        }
    }
}

impl ImageRecord {
    /// Pixel size: the real one when the image was analysed, else the best variant's when the
    /// markup or URL tells it.
    pub fn dimensions(&self) -> (Option<u32>, Option<u32>) {
        if let Some(f) = &self.facts
            && f.width.is_some()
        {
            return (f.width, f.height);
        }
        self.variants.iter().find(|v| v.url == self.url).map(|v| (v.width, v.height)).unwrap_or((None, None))
    }

    /// Format: by the image's bytes when analysed, else by its URL.
    pub fn format(&self) -> Option<ImageFormat> {
        self.facts.as_ref().map(|f| f.format).or_else(|| ImageFormat::from_url(&self.url))
    }
}
