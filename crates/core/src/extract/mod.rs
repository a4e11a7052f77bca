//! Image extraction: every image a person can see on a page, with the words around it, from one
//! parse of the HTML. Synchronous CPU work: call it from `spawn_blocking` in async code.

mod atoms;
mod candidates;
mod context;
pub mod css;
mod jsonld;
pub mod junk;
pub mod srcset;
pub mod variants;

use serde::{Deserialize, Serialize};
use url::Url;

pub use junk::RejectReason;

/// Longest text kept in any one context field, in characters (the surrounding words excepted).
pub const MAX_FIELD_CHARS: usize = 300;
/// Longest surrounding text kept (`nearby_text`), in characters. An article's paragraph often
/// names what its picture shows only near its end ("… was replaced with George Skipper's Royal
/// Arcade"): the keyword leg reads all of this, the embedding its first [`MAX_FIELD_CHARS`].
pub const MAX_NEARBY_CHARS: usize = 1_000;
/// `data:` image URIs longer than this are not kept (counted as rejected).
pub const MAX_DATA_URI_BYTES: usize = 32 * 1024;
/// Most images kept from one page; more are counted as rejected (`too_many`).
pub const MAX_IMAGES_PER_PAGE: usize = 2_000;
/// Most links kept from one page.
pub const MAX_LINKS_PER_PAGE: usize = 5_000;

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
    pub facts: Option<crate::enrich::ImageFacts>,
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
    pub fn format(&self) -> Option<crate::search::ImageFormat> {
        self.facts.as_ref().map(|f| f.format).or_else(|| crate::search::ImageFormat::from_url(&self.url))
    }
}

/// An image-like element that is not a content image, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedImage {
    /// Absolute when it resolves, else as written.
    pub url: String,
    pub reason: RejectReason,
    pub source: ImageSource,
}

/// `<meta name="robots">` directives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaRobots {
    pub noindex: bool,
    pub nofollow: bool,
}

/// What one page holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageImages {
    pub page_url: Url,
    /// `<base href>` when present, else the page URL.
    pub base_url: Url,
    pub title: String,
    pub canonical: Option<Url>,
    pub robots: MetaRobots,
    pub images: Vec<ImageRecord>,
    pub rejected: Vec<RejectedImage>,
    /// http(s) links, resolved, fragments removed, in page order, without duplicates.
    pub links: Vec<Url>,
}

/// Extracts the images, links and page facts of one HTML document. Never panics, on any input.
pub fn extract(html: &str, page_url: &Url) -> PageImages {
    let doc = scraper::Html::parse_document(html);
    extract_from_document(&doc, page_url)
}

/// [`extract`] over an already parsed document.
pub fn extract_from_document(doc: &scraper::Html, page_url: &Url) -> PageImages {
    candidates::Walker::new(doc, page_url).run()
}

/// A fast 64-bit hash of short keys (URLs, class names) where DoS resistance buys nothing: eight
/// bytes a step with FxHash's mixing, then MurmurHash3's avalanche. A byte-wise FNV spent as long
/// on a link's URL as resolving it.
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    avalanche(mix(0, bytes))
}

pub(crate) fn mix(mut h: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    // The length's low byte in the last word tells `ab` from `ab\0`.
    last[7] = bytes.len() as u8;
    (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K)
}

pub(crate) fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Collapses whitespace and caps the length at [`MAX_FIELD_CHARS`] characters.
pub(crate) fn clean_text<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    clean_text_within(parts, MAX_FIELD_CHARS)
}

/// Collapses whitespace and caps the length at `cap` characters.
pub(crate) fn clean_text_within<'a>(parts: impl IntoIterator<Item = &'a str>, cap: usize) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for part in parts {
        // Most text is ASCII: split on ASCII whitespace and count bytes, which is the same
        // answer for it and much cheaper than the Unicode path.
        let full = if part.is_ascii() {
            push_words(&mut out, &mut chars, cap, part.split_ascii_whitespace(), str::len)
        } else {
            push_words(&mut out, &mut chars, cap, part.split_whitespace(), |w| w.chars().count())
        };
        if full {
            break;
        }
    }
    out
}

/// Appends words to `out` up to `cap` characters; true once it is reached.
fn push_words<'a>(
    out: &mut String,
    chars: &mut usize,
    cap: usize,
    words: impl Iterator<Item = &'a str>,
    count: impl Fn(&str) -> usize,
) -> bool {
    for word in words {
        if *chars >= cap {
            return true;
        }
        if !out.is_empty() {
            out.push(' ');
            *chars += 1;
        }
        // Whole words while they fit (the common case), character by character at the cap.
        let room = cap - *chars;
        let len = count(word);
        if len <= room {
            out.push_str(word);
            *chars += len;
        } else {
            for c in word.chars().take(room) {
                out.push(c);
                *chars += 1;
            }
        }
    }
    *chars >= cap
}

#[cfg(test)]
mod tests;
