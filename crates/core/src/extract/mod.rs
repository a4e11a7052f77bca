//! Image extraction: every image a person can see on a page, with the words around it, from one
//! parse of the HTML. Synchronous CPU work: call it from `spawn_blocking` in async code.

mod atoms;
pub mod budget;
mod candidates;
mod context;
pub mod css;
pub mod jsonld;
pub mod junk;
mod resolve;
pub mod srcset;
pub mod variants;

use serde::{Deserialize, Serialize};
use url::Url;

pub(crate) use crate::model::text::{clean_text, clean_text_within};
pub use crate::model::{
    HEADING_GROUP, ImageContext, ImageRecord, ImageSource, ImageVariant, MAX_FIELD_CHARS, MAX_NEARBY_CHARS,
};

pub use junk::RejectReason;

/// `data:` image URIs longer than this are not kept (counted as rejected).
pub const MAX_DATA_URI_BYTES: usize = 32 * 1024;
/// Most images kept from one page; more are counted as rejected (`too_many`).
pub const MAX_IMAGES_PER_PAGE: usize = 2_000;
/// Most links kept from one page.
pub const MAX_LINKS_PER_PAGE: usize = 5_000;

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

/// [`extract`] within what one page may cost (see [`budget`]): a page too complex to parse in
/// bounded time is refused unparsed, the parse gives up between chunks once `stop` is set, and
/// it waits its turn while the pages being parsed hold the process's parse memory budget.
/// What the crawler runs.
pub fn extract_within(
    html: &str,
    page_url: &Url,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<PageImages, budget::Refused> {
    budget::check(html).map_err(budget::Refused::TooComplex)?;
    // The tree takes several times the page's bytes: large pages of all crawls take turns.
    let _held = crate::memory_budget::MemoryBudget::parses().hold(html.len() as u64);
    let doc = budget::parse(html, stop)?;
    Ok(extract_from_document(&doc, page_url))
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

#[cfg(test)]
mod tests;
