//! The search-quality evaluation on two real sets with opposite characters (`image-chat eval`):
//!
//! - semantic: Flickr8k dev (1,000 images) — caption 0 is indexed as the alt text, captions 1-4
//!   are the queries, the relevant result is the same image (paraphrases, few shared words);
//! - entity/context: Concadia dev (150 Wikipedia images) — alt + article title + surrounding
//!   paragraph are indexed, the caption is the query (names and rare terms matter).
//!
//! Each query has one relevant image, so MRR@10 = 1/rank, Recall@10 = hit in the top 10,
//! nDCG@10 = 1/log2(rank + 1).

use std::path::Path;

use serde::Serialize;
use url::Url;

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::extract::{ImageContext, ImageRecord, ImageSource, ImageVariant};
use crate::index::vectors::dot;
use crate::index::{Filters, Namespace, SearchRequest, SqliteIndex};
use crate::search::rank::{Fusion, fuse};

const NAMESPACE: &str = "eval";
/// Ranks that count: the top 10.
pub const DEPTH: usize = 10;
/// Candidates each leg hands to fusion.
const CANDIDATES: usize = 50;

pub struct EvalSet {
    pub name: &'static str,
    /// (alt, caption/title, nearby text) per image.
    pub docs: Vec<(String, String, String)>,
    /// (query, index of the relevant doc).
    pub queries: Vec<(String, usize)>,
}

/// Flickr8k's dev split from `flickr8k_train_dev.tsv`.
pub fn flickr8k(path: &Path) -> Result<EvalSet> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let mut docs = Vec::new();
    let mut queries = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 8 || cols[1] != "dev" {
            continue;
        }
        let doc = docs.len();
        docs.push((cols[3].trim().to_string(), String::new(), String::new()));
        queries.extend(cols[4..8].iter().map(|q| (q.trim().to_string(), doc)));
    }
    Ok(EvalSet { name: "flickr8k (semantic)", docs, queries })
}

/// Concadia's sample from `concadia_dev.json`.
pub fn concadia(path: &Path) -> Result<EvalSet> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let items: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let mut docs = Vec::new();
    let mut queries = Vec::new();
    for item in items {
        let s = |k: &str| item.get(k).and_then(|v| v.as_str()).unwrap_or("").trim().to_string();
        let doc = docs.len();
        docs.push((s("alt_description"), s("article_id"), s("context")));
        queries.push((s("caption"), doc));
    }
    Ok(EvalSet { name: "concadia (entity/context)", docs, queries })
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    pub mrr: f64,
    pub recall: f64,
    pub ndcg: f64,
}

impl Metrics {
    /// Counts one query whose relevant image came at `rank` (0-based), or not at all.
    pub fn add(&mut self, rank: Option<usize>) {
        if let Some(r) = rank.filter(|r| *r < DEPTH) {
            self.mrr += 1.0 / (r + 1) as f64;
            self.recall += 1.0;
            self.ndcg += 1.0 / ((r + 2) as f64).log2();
        }
    }

    /// The means over `n` queries.
    pub fn mean(mut self, n: usize) -> Self {
        let n = n.max(1) as f64;
        self.mrr /= n;
        self.recall /= n;
        self.ndcg /= n;
        self
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub set: String,
    pub docs: usize,
    pub queries: usize,
    pub bm25: Metrics,
    pub vector: Metrics,
    /// One entry per fusion evaluated, in the order asked.
    pub hybrid: Vec<(Fusion, Metrics)>,
    /// The original design: cosine + 0.5 x keyword boost.
    pub original: Metrics,
}

fn record(i: usize, doc: &(String, String, String)) -> ImageRecord {
    let url = Url::parse(&format!("http://eval.test/img/{i}.jpg")).expect("a valid URL");
    ImageRecord {
        found_by: Default::default(),
        facts: None,
        page_url: Url::parse(&format!("http://eval.test/page/{i}")).expect("a valid URL"),
        source: ImageSource::Img,
        variants: vec![ImageVariant {
            url: url.clone(),
            width: None,
            height: None,
            density: None,
            media: None,
            mime: None,
        }],
        url,
        context: ImageContext {
            alt: doc.0.clone(),
            title: doc.1.clone(),
            nearby_text: doc.2.clone(),
            ..ImageContext::default()
        },
    }
}

/// The original design's score: cosine + 0.5 x boost, the boost adding 2.0 for the exact query
/// phrase in the alt and 0.5 per query word longer than 2 characters found in the alt.
pub fn original_score(cosine: f32, query: &str, alt: &str) -> f32 {
    let q = query.to_lowercase();
    let alt = alt.to_lowercase();
    let mut boost = if !q.trim().is_empty() && alt.contains(q.trim()) { 2.0 } else { 0.0 };
    boost += 0.5 * q.split_whitespace().filter(|w| w.chars().count() > 2 && alt.contains(*w)).count() as f32;
    cosine + 0.5 * boost
}

/// Runs one set through BM25, vector, the original formula and hybrid with each fusion given.
pub fn run(set: &EvalSet, embedder: &dyn Embedder, fusions: &[Fusion]) -> Result<EvalReport> {
    let index = SqliteIndex::open_in_memory()?;
    let records: Vec<ImageRecord> = set.docs.iter().enumerate().map(|(i, d)| record(i, d)).collect();
    let texts: Vec<String> = records.iter().map(|r| crate::embed::image_text(&r.context)).collect();
    let vectors = embedder.embed(&texts.iter().map(String::as_str).collect::<Vec<_>>())?;
    let items: Vec<(ImageRecord, Option<Vec<f32>>)> =
        records.into_iter().zip(vectors.iter().cloned()).map(|(r, v)| (r, Some(v))).collect();
    let namespace = Namespace::parse(NAMESPACE)?;
    index.upsert(&namespace, &items)?;

    let query_vectors = embedder.embed(&set.queries.iter().map(|(q, _)| q.as_str()).collect::<Vec<_>>())?;
    let filters = Filters::default();
    let namespaces = [namespace];
    let req = |limit| SearchRequest { namespaces: &namespaces, filters: &filters, limit };
    let doc_of = |url: &Url| url.path().trim_start_matches("/img/").trim_end_matches(".jpg").parse::<usize>().ok();
    let rank_of = |urls: Vec<&Url>, want: usize| urls.iter().position(|u| doc_of(u) == Some(want));

    let (mut bm25, mut vector, mut original) = (Metrics::default(), Metrics::default(), Metrics::default());
    let mut hybrid: Vec<Metrics> = vec![Metrics::default(); fusions.len()];
    for ((query, want), qv) in set.queries.iter().zip(&query_vectors) {
        let text_hits = index.search_text(query, &req(CANDIDATES))?;
        let vector_hits = index.search_vector(qv, &req(CANDIDATES))?;
        bm25.add(rank_of(text_hits.iter().map(|h| &h.image.record.url).collect(), *want));
        vector.add(rank_of(vector_hits.iter().map(|h| &h.image.record.url).collect(), *want));
        for (fusion, metrics) in fusions.iter().zip(hybrid.iter_mut()) {
            let fused = fuse(text_hits.clone(), vector_hits.clone(), *fusion);
            metrics.add(rank_of(fused.iter().take(DEPTH).map(|r| &r.image.record.url).collect(), *want));
        }
        // Every image scored by the formula, as the original design did (the exact scan's
        // cosine is this same dot product of normalized vectors).
        let mut scored: Vec<(f32, usize)> = vectors
            .iter()
            .zip(&set.docs)
            .enumerate()
            .map(|(i, (dv, doc))| (original_score(dot(qv, dv), query, &doc.0), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        original.add(scored.iter().position(|(_, i)| i == want));
    }
    let n = set.queries.len();
    Ok(EvalReport {
        set: set.name.to_string(),
        docs: set.docs.len(),
        queries: n,
        bm25: bm25.mean(n),
        vector: vector.mean(n),
        hybrid: fusions.iter().copied().zip(hybrid.into_iter().map(|m| m.mean(n))).collect(),
        original: original.mean(n),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_ranks() {
        let mut m = Metrics::default();
        m.add(Some(0));
        m.add(Some(1));
        m.add(Some(10));
        m.add(None);
        let m = m.mean(4);
        assert!((m.mrr - 0.375).abs() < 1e-9);
        assert!((m.recall - 0.5).abs() < 1e-9);
        assert!((m.ndcg - (1.0 + 1.0 / 3f64.log2()) / 4.0).abs() < 1e-9);
    }

    #[test]
    fn the_original_formula() {
        assert!((original_score(0.5, "red kayak", "a red kayak on a lake") - (0.5 + 0.5 * (2.0 + 1.0))).abs() < 1e-6);
        assert!((original_score(0.5, "a big dog", "dog") - (0.5 + 0.5 * 0.5)).abs() < 1e-6);
    }
}
