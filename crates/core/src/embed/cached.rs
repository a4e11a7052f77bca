//! An embedder in front of another: identical texts in a batch are embedded once, and texts
//! embedded before (this crawl, this process) come from an in-process cache keyed by model id
//! and text, so a site whose alt texts repeat ("Loading Events" x 520) costs one inference.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Embedder;
use crate::error::Result;

pub struct CachedEmbedder {
    inner: Arc<dyn Embedder>,
    cache: moka::sync::Cache<(String, String), Arc<Vec<f32>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CachedEmbedder {
    /// A cache of at most `max_entries` vectors.
    pub fn new(inner: Arc<dyn Embedder>, max_entries: u64) -> Self {
        Self { inner, cache: moka::sync::Cache::new(max_entries), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// (hits, misses) so far: texts served from the cache or the batch, and texts embedded.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

impl Embedder for CachedEmbedder {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let model = self.inner.model_id().to_string();
        let mut out: Vec<Option<Arc<Vec<f32>>>> =
            texts.iter().map(|t| self.cache.get(&(model.clone(), t.to_string()))).collect();
        // Each distinct text still missing is embedded once.
        let mut todo: Vec<&str> = Vec::new();
        for (t, v) in texts.iter().zip(&out) {
            if v.is_none() && !todo.contains(t) {
                todo.push(t);
            }
        }
        if !todo.is_empty() {
            for (t, v) in todo.iter().zip(self.inner.embed(&todo)?) {
                self.cache.insert((model.clone(), t.to_string()), Arc::new(v));
            }
        }
        self.misses.fetch_add(todo.len() as u64, Ordering::Relaxed);
        self.hits.fetch_add((texts.len() - todo.len()) as u64, Ordering::Relaxed);
        for (t, slot) in texts.iter().zip(out.iter_mut()) {
            if slot.is_none() {
                *slot = self.cache.get(&(model.clone(), t.to_string()));
            }
        }
        Ok(out.into_iter().map(|v| v.map(|v| (*v).clone()).unwrap_or_default()).collect())
    }

    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
}
