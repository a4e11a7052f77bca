//! The image index seam: records and their vectors, per namespace (one per crawl session),
//! searched by a keyword (BM25) leg and a vector leg. Filters are applied inside each leg,
//! before its top-k is taken, never by cutting a top-k afterwards.
//!
//! The trait is async and free of storage types, so a network-backed store (PostgreSQL +
//! pgvector, [`PostgresIndex`]) stands behind it as the embedded SQLite store does; the SQLite
//! store does its blocking work on blocking threads inside its implementation.

mod ann;
pub(crate) mod fields;
mod namespace;
pub(crate) mod postgres;
mod resident;
mod sqlite;
mod sqlite_seam;
pub mod vectors;

use serde::{Deserialize, Serialize};

pub use namespace::Namespace;
pub use postgres::PostgresIndex;
pub use resident::AnnOptions;
pub use sqlite::SqliteIndex;

use crate::BoxFuture;
use crate::error::Result;
use crate::model::ImageRecord;
use crate::model::{ImageFormat, Orientation, Tone};

/// An image as the index keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredImage {
    pub namespace: Namespace,
    pub record: ImageRecord,
    pub format: Option<ImageFormat>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Conditions every result of a search meets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    /// Any of these formats (empty: any format).
    pub formats: Vec<ImageFormat>,
    pub min_width: Option<u32>,
    pub min_height: Option<u32>,
    pub orientation: Option<Orientation>,
    /// Only images found on pages under this URL prefix.
    pub page_url_prefix: Option<String>,
    /// No result mentions any of these (in alt, caption, title or nearby text).
    pub exclude_terms: Vec<String>,
    /// Every result mentions each of these phrases (same fields).
    pub require_terms: Vec<String>,
    /// Only images whose pixels were analysed as dark or light.
    pub tone: Option<Tone>,
    /// Only images analysed as having (or not having) transparent pixels.
    pub transparent: Option<bool>,
}

/// One search of one leg.
#[derive(Clone, Debug)]
pub struct SearchRequest<'a> {
    /// Namespaces to search; empty means all.
    pub namespaces: &'a [Namespace],
    pub filters: &'a Filters,
    pub limit: usize,
}

/// One result of one leg: its score in that leg (higher is better).
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
    pub image: StoredImage,
    /// The image's vector, when the vector leg found it (for near-duplicate checks).
    pub vector: Option<Vec<f32>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStats {
    pub images: u64,
    pub vectors: u64,
    pub namespaces: u64,
}

pub trait ImageIndex: Send + Sync {
    /// Inserts or replaces images (by namespace and URL), each with its vector when it has one.
    /// Vectors must all have the index's dimension and be L2-normalized.
    fn upsert<'a>(
        &'a self,
        namespace: &'a Namespace,
        items: &'a [(ImageRecord, Option<Vec<f32>>)],
    ) -> BoxFuture<'a, Result<usize>>;
    /// Deletes a namespace and everything in it; returns how many images went.
    fn delete_namespace<'a>(&'a self, namespace: &'a Namespace) -> BoxFuture<'a, Result<u64>>;
    /// Keyword leg: BM25 over alt > caption/title > context > page title/URL words.
    fn search_text<'a>(&'a self, query: &'a str, request: &'a SearchRequest<'a>) -> BoxFuture<'a, Result<Vec<Hit>>>;
    /// Vector leg: cosine similarity to `vector` (normalized).
    fn search_vector<'a>(
        &'a self,
        vector: &'a [f32],
        request: &'a SearchRequest<'a>,
    ) -> BoxFuture<'a, Result<Vec<Hit>>>;
    /// Images passing the filters, newest first (a query of filters only: "PNG images").
    fn list<'a>(&'a self, request: &'a SearchRequest<'a>) -> BoxFuture<'a, Result<Vec<Hit>>>;
    fn stats<'a>(&'a self, namespace: Option<&'a Namespace>) -> BoxFuture<'a, Result<IndexStats>>;
    /// A number that changes whenever any of `namespaces` (empty: any namespace) changes:
    /// results cached under it are never stale.
    fn generation<'a>(&'a self, namespaces: &'a [Namespace]) -> BoxFuture<'a, Result<u64>>;
    /// Which store this is, for `/health` and logs.
    fn kind(&self) -> &'static str;
}

/// What filters look at, borrowed from wherever an image's facts are kept.
pub(crate) struct FilterView<'a> {
    pub format: Option<ImageFormat>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub page_url: &'a str,
    /// Mean brightness, when analysed.
    pub luma: Option<u8>,
    pub transparent: Option<bool>,
    /// Lower-case searchable text; `None` skips the exclusion check (done elsewhere).
    pub text: Option<&'a str>,
}

impl Filters {
    /// Whether an image, seen through `v`, passes every filter.
    pub(crate) fn accepts_view(&self, v: &FilterView<'_>) -> bool {
        if !self.formats.is_empty() && !v.format.is_some_and(|f| self.formats.contains(&f)) {
            return false;
        }
        if self.min_width.is_some_and(|min| v.width.is_none_or(|w| w < min))
            || self.min_height.is_some_and(|min| v.height.is_none_or(|h| h < min))
        {
            return false;
        }
        if let Some(o) = self.orientation {
            let (Some(w), Some(h)) = (v.width, v.height) else { return false };
            let ok = match o {
                Orientation::Landscape => w > h,
                Orientation::Portrait => w < h,
                Orientation::Square => w == h,
            };
            if !ok {
                return false;
            }
        }
        if self.page_url_prefix.as_ref().is_some_and(|p| !v.page_url.starts_with(p.as_str())) {
            return false;
        }
        let tone_ok = match self.tone {
            Some(Tone::Dark) => v.luma.is_some_and(|l| l < crate::model::DARK_LUMA),
            Some(Tone::Light) => v.luma.is_some_and(|l| l > crate::model::LIGHT_LUMA),
            None => true,
        };
        if !tone_ok || self.transparent.is_some_and(|t| v.transparent != Some(t)) {
            return false;
        }
        match v.text {
            Some(text) => {
                !self.exclude_terms.iter().any(|t| contains_word(text, &t.to_lowercase()))
                    && self.require_terms.iter().all(|t| contains_word(text, &t.to_lowercase()))
            }
            None => true,
        }
    }
}

impl<'a> FilterView<'a> {
    /// What the filters see of a stored image; `text` is its [`searchable_text`], lower-cased.
    pub(crate) fn of(image: &'a StoredImage, text: &'a str) -> Self {
        let facts = image.record.facts.as_ref();
        FilterView {
            format: image.format,
            width: image.width,
            height: image.height,
            page_url: image.record.page_url.as_str(),
            luma: facts.and_then(|f| f.luma),
            transparent: facts.and_then(|f| f.transparent),
            text: Some(text),
        }
    }
}

/// The words an image is described by, for exclusion checks.
pub(crate) fn searchable_text(r: &ImageRecord) -> String {
    let c = &r.context;
    [&c.alt, &c.title, &c.aria_label, &c.figcaption, &c.nearby_text]
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `needle` occurs in `haystack` as whole words (both lower-case).
pub(crate) fn contains_word(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(i) = haystack[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = haystack[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        // Plurals of the excluded word count too ("person" excludes "persons").
        let rest = &haystack[end..];
        let after = rest.chars().next().is_none_or(|c| !c.is_alphanumeric())
            || (rest.starts_with('s') && rest[1..].chars().next().is_none_or(|c| !c.is_alphanumeric()));
        if before && after {
            return true;
        }
        from = start + needle.len().max(1);
        while !haystack.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_word_exclusion() {
        assert!(contains_word("two people on a beach", "people"));
        assert!(contains_word("a dog and two cats", "cat"));
        assert!(!contains_word("peoplemover at the airport", "people"));
        assert!(!contains_word("scattered leaves", "cat"));
        assert!(!contains_word("anything", ""));
        assert!(contains_word("ünïcode café", "café"));
    }
}
