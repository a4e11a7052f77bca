//! A search, end to end: parse the message, embed it, run both index legs with the filters,
//! fuse, dedup, and explain each result. Without a usable model it searches by keywords only and
//! says so.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::parse::{Query, parse};
use super::rank::{DEFAULT_FORMAT_PREFERENCE, Fusion, Ranked, dedup_with, fuse, order};
use crate::embed::{Embedder, QueryBatcher};
use crate::error::{Error, Result};
use crate::index::{Filters, ImageIndex, Namespace, SearchRequest};
use crate::model::ImageFormat;

/// Results returned when the message asks for no number.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;
/// Candidates each leg hands to fusion.
const CANDIDATES: usize = 100;
/// An image found by meaning alone must be at least this similar to the message to be shown:
/// below it, all-MiniLM-L6-v2 similarities are noise, and "no results" is the honest answer.
pub const MIN_VECTOR_ONLY_SIMILARITY: f32 = 0.2;
/// Added to the fused score (0-1) of a result holding the request's words as one phrase.
const PHRASE_BONUS: f32 = 0.05;
/// A result is "strong" when it has evidence of its own (a word of the request in its words, or
/// a meaning at least [`MIN_STRONG_SIMILARITY`] similar) and its fused score is at least this
/// share of the best such result's.
const STRONG_SHARE: f32 = 0.6;
/// The fusion scales each leg to its own best, so a weak likeness (0.2-0.3: what a one-word
/// request like "logo" scores against unrelated descriptions) would otherwise pass for strong.
const MIN_STRONG_SIMILARITY: f32 = 0.3;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResult {
    pub url: String,
    pub page_url: String,
    pub namespace: String,
    pub alt: String,
    /// The words shown with the image: alt, else caption, label, title or nearby text.
    pub description: String,
    pub format: Option<ImageFormat>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bm25: Option<f32>,
    pub vector: Option<f32>,
    pub fused: f32,
    /// Strong match, or a weaker one shown below the strong ones.
    pub strong: bool,
    /// Query words found in the image's words.
    pub matched_terms: Vec<String>,
    /// The same image found elsewhere (other URLs, same alt text).
    pub alternatives: Vec<String>,
    /// In the page as sent, or only in the page rendered in a browser.
    #[serde(default)]
    pub found_by: crate::model::FoundBy,
    /// The chips this result does not meet (`PNG`, `≥ 1600 px wide`, `without "people"`): set
    /// on the closest images shown after too few met them all; empty on every other result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResponse {
    pub query: Query,
    pub results: Vec<SearchResult>,
    /// Parts of the query that could not be applied, and why (e.g. tone without image analysis).
    pub notes: Vec<String>,
    /// Set when the search ran on keywords only (no usable model).
    pub lexical_only: Option<String>,
}

fn result(
    image: &crate::index::StoredImage,
    bm25: Option<f32>,
    vector: Option<f32>,
    fused: f32,
    strong: bool,
    matched_terms: Vec<String>,
    alternatives: Vec<String>,
) -> SearchResult {
    let record = &image.record;
    SearchResult {
        url: record.url.to_string(),
        page_url: record.page_url.to_string(),
        namespace: image.namespace.to_string(),
        alt: record.context.alt.clone(),
        description: record.context.description().to_string(),
        format: image.format,
        width: image.width,
        height: image.height,
        bm25,
        vector,
        fused,
        strong,
        matched_terms,
        alternatives,
        found_by: record.found_by,
        unmet: Vec::new(),
    }
}

/// What one run of the legs found: each result with its stored image (for the relaxation's
/// checks), whether it ran on keywords only, and the message's vector.
struct Found {
    results: Vec<(SearchResult, crate::index::StoredImage)>,
    lexical_only: Option<String>,
    vector: Option<Vec<f32>>,
}

pub struct SearchEngine {
    index: Arc<dyn ImageIndex>,
    embedder: Result<QueryBatcher, String>,
    fusion: Fusion,
    format_preference: Vec<ImageFormat>,
}

impl SearchEngine {
    /// `embedder` is the model or the reason it is unavailable (searches then use keywords only).
    pub fn new(index: Arc<dyn ImageIndex>, embedder: Result<Arc<dyn Embedder>, String>) -> Self {
        Self {
            index,
            embedder: embedder.map(QueryBatcher::new),
            fusion: Fusion::default(),
            format_preference: DEFAULT_FORMAT_PREFERENCE.to_vec(),
        }
    }

    /// Formats preferred on tied scores and among copies of one image (earlier is better).
    pub fn with_format_preference(mut self, preference: Vec<ImageFormat>) -> Self {
        self.format_preference = preference;
        self
    }

    pub fn with_fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    pub fn index(&self) -> &Arc<dyn ImageIndex> {
        &self.index
    }

    pub async fn search(
        &self,
        message: &str,
        namespaces: &[Namespace],
        limit: Option<usize>,
    ) -> Result<SearchResponse> {
        let query = parse(message).map_err(|e| Error::Invalid(e.to_string()))?;
        self.search_parsed(query, None, namespaces, limit).await
    }

    /// The model's front for search texts (batched with concurrent searches), when there is one.
    pub fn query_embedder(&self) -> Option<&QueryBatcher> {
        self.embedder.as_ref().ok()
    }

    /// The embedder, when there is a usable one.
    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.embedder.as_ref().ok().map(QueryBatcher::embedder)
    }

    /// The text the legs search for: the description, or the required phrases when there is none.
    pub fn search_text(query: &Query) -> String {
        if query.text.is_empty() { query.must_terms.join(" ") } else { query.text.clone() }
    }

    /// Searches for an already parsed query; `vector` is the embedding of
    /// [`SearchEngine::search_text`] when the caller has it (from a cache), else it is computed.
    /// When the constraints leave fewer results than asked for, the closest images without them
    /// follow, marked ([`super::relax`]).
    pub async fn search_parsed(
        &self,
        query: Query,
        vector: Option<Vec<f32>>,
        namespaces: &[Namespace],
        limit: Option<usize>,
    ) -> Result<SearchResponse> {
        self.search_page(query, vector, namespaces, limit, 0).await
    }

    /// [`SearchEngine::search_parsed`], page `page` of it (0 is the first): the results after
    /// the first `page × limit`. A search shows at most [`MAX_LIMIT`] results in all.
    pub async fn search_page(
        &self,
        mut query: Query,
        vector: Option<Vec<f32>>,
        namespaces: &[Namespace],
        limit: Option<usize>,
        page: usize,
    ) -> Result<SearchResponse> {
        let per_page = query.count.map(|c| c as usize).or(limit).unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let skip = per_page.saturating_mul(page);
        if skip >= MAX_LIMIT {
            let note =
                format!("a search shows at most its {MAX_LIMIT} best images; add words or filters to see others");
            return Ok(SearchResponse { query, results: Vec::new(), notes: vec![note], lexical_only: None });
        }
        let limit = (skip + per_page).min(MAX_LIMIT);
        let filters = Filters {
            formats: query.formats.clone(),
            min_width: query.min_width,
            min_height: query.min_height,
            orientation: query.orientation,
            page_url_prefix: None,
            exclude_terms: query.exclude_terms.clone(),
            require_terms: query.must_terms.clone(),
            tone: query.tone,
            transparent: query.transparent,
        };
        let mut notes = Vec::new();
        if query.tone.is_some() || query.transparent.is_some() {
            notes.push(
                "brightness and transparency are known only for images whose pixels the crawl analysed".to_string(),
            );
        }
        let found = self.find(&query, &filters, vector, namespaces, limit).await?;
        let mut results: Vec<SearchResult> = found.results.into_iter().map(|(r, _)| r).collect();
        // A query of words: too few results that meet its constraints are followed by the
        // closest that do not. A query of filters only ("PNG images") lists what passes them,
        // and only an empty list is filled.
        let words = !Self::search_text(&query).trim().is_empty();
        let short = if words { results.len() < limit } else { results.is_empty() };
        if short && filters != Filters::default() {
            let open = super::relax::without_constraints(&query);
            let others = self.find(&open, &Filters::default(), found.vector, namespaces, limit).await?;
            super::relax::fill(&mut query, &mut results, others.results, limit, &mut notes);
        }
        if skip > 0 {
            let before = results.len();
            results.drain(..skip.min(before));
            if results.is_empty() {
                notes.push(format!("no more images: the {before} before were all that this request finds"));
            }
        }
        Ok(SearchResponse { query, results, notes, lexical_only: found.lexical_only })
    }

    /// Runs both legs (or lists, for a query of filters only) under `filters`, fuses, dedups
    /// and explains.
    async fn find(
        &self,
        query: &Query,
        filters: &Filters,
        vector: Option<Vec<f32>>,
        namespaces: &[Namespace],
        limit: usize,
    ) -> Result<Found> {
        let request = SearchRequest { namespaces, filters, limit: CANDIDATES };
        // The text legs search for the description plus required phrases.
        let text = Self::search_text(query);
        if text.trim().is_empty() {
            // Filters only ("PNG images without people"): every image that passes them, copies
            // of one picture shown once (the larger).
            let listed = self.index.list(&request).await?;
            let listed: Vec<Ranked> = listed
                .into_iter()
                .map(|h| Ranked {
                    id: h.id,
                    image: h.image,
                    bm25: None,
                    vector: None,
                    fused: 1.0,
                    alternatives: Vec::new(),
                    embedding: h.vector,
                })
                .collect();
            let results = dedup_with(listed, &self.format_preference)
                .into_iter()
                .take(limit)
                .map(|r| (result(&r.image, None, None, 1.0, true, Vec::new(), r.alternatives), r.image))
                .collect();
            return Ok(Found { results, lexical_only: None, vector });
        }
        let text_hits = self.index.search_text(&text, &request).await?;
        let (vector_hits, lexical_only, query_vector) = match &self.embedder {
            Ok(embedder) => {
                let v = match vector {
                    Some(v) => v,
                    // Inference is CPU work: off the async threads, with other searches' texts.
                    None => embedder.embed(text.clone()).await?,
                };
                (self.index.search_vector(&v, &request).await?, None, Some(v))
            }
            Err(reason) => (Vec::new(), Some(format!("keyword search only: {reason}")), None),
        };
        let mut fused = fuse(text_hits, vector_hits, self.fusion);
        // The words of a multi-word request, in order, in an image's own words: a small bonus,
        // so "Apple Watch" ranks the Apple Watch above a watch band of apple leather even when
        // the keyword leg scores them alike (and no model is there to tell them apart).
        // A quoted title in a longer description ("the film \"Casablanca\"") earns the same
        // bonus: it ranks the images naming it first without removing those that word it otherwise.
        let phrase = text.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        let mut phrases: Vec<&str> = query.boost_terms.iter().map(String::as_str).collect();
        if phrase.contains(' ') {
            phrases.push(&phrase);
        }
        if !phrases.is_empty() {
            for r in &mut fused {
                let words = crate::index::searchable_text(&r.image.record).to_lowercase();
                let held = phrases.iter().filter(|p| crate::index::contains_word(&words, p)).count();
                r.fused += PHRASE_BONUS * held as f32;
            }
        }
        order(&mut fused, &self.format_preference);
        let mut ranked = dedup_with(fused, &self.format_preference);
        ranked.retain(|r| r.bm25.is_some() || r.vector.is_some_and(|v| v >= MIN_VECTOR_ONLY_SIMILARITY));
        // The best score among results with evidence of their own: a word of the request in
        // their words, or a close meaning.
        let evidenced = |r: &Ranked| r.bm25.is_some() || r.vector.is_some_and(|v| v >= MIN_STRONG_SIMILARITY);
        let best = ranked.iter().filter(|r| evidenced(r)).map(|r| r.fused).fold(0.0, f32::max);
        let mut words: Vec<String> = Vec::new();
        for w in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2) {
            if !words.iter().any(|x| x == w) {
                words.push(w.to_string());
            }
        }
        let mut results: Vec<(SearchResult, crate::index::StoredImage)> = ranked
            .into_iter()
            .take(limit)
            .map(|r| {
                // The words the keyword leg reads: the image's own, its heading and file name.
                let c = &r.image.record.context;
                let haystack = format!(
                    "{} {} {}",
                    crate::index::searchable_text(&r.image.record),
                    c.heading,
                    c.filename_tokens.join(" ")
                )
                .to_lowercase();
                let matched = words.iter().filter(|w| crate::index::contains_word(&haystack, w)).cloned().collect();
                let strong = evidenced(&r) && r.fused >= best * STRONG_SHARE;
                (result(&r.image, r.bm25, r.vector, r.fused, strong, matched, r.alternatives), r.image)
            })
            .collect();
        // Strong matches first, as the UI shows them; each group keeps the fused order.
        results.sort_by_key(|(r, _)| !r.strong);
        Ok(Found { results, lexical_only, vector: query_vector })
    }
}
