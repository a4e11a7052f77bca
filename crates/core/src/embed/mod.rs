//! Text embeddings: the `Embedder` seam and the local all-MiniLM-L6-v2 on ONNX Runtime.
//!
//! Batch-first: texts are tokenized, sorted into length buckets (padding only to the longest
//! text of a bucket, which roughly doubles throughput on short alt texts), run, mean-pooled over
//! the attention mask and L2-normalized, as sentence-transformers does.

mod cached;
mod layered;
mod onnx;
mod openai;

pub use cached::CachedEmbedder;
pub use layered::embed_cached;
pub use onnx::OnnxEmbedder;
pub use openai::OpenAiEmbedder;

use std::sync::Arc;

use crate::config::{EmbedBackend, ModelSettings};
use crate::error::Result;

/// The embedder the settings name: the local model (default) or an OpenAI-compatible endpoint.
pub fn load(model: &ModelSettings) -> Result<Arc<dyn Embedder>> {
    Ok(match model.backend {
        EmbedBackend::Onnx => Arc::new(OnnxEmbedder::load(model)?),
        EmbedBackend::OpenAi => Arc::new(OpenAiEmbedder::connect(&model.openai)?),
    })
}

pub trait Embedder: Send + Sync {
    /// One normalized vector per text, in the order given.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Names the model and its version: cached vectors are keyed by it.
    fn model_id(&self) -> &str;
    fn dimension(&self) -> usize;
}

/// The text an image is embedded from: its alt, title, caption and label, then the words
/// around it. Empty when the image has no words at all (it is then indexed for keywords only).
pub fn image_text(ctx: &crate::extract::ImageContext) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for s in [&ctx.alt, &ctx.title, &ctx.figcaption, &ctx.aria_label, &ctx.nearby_text] {
        if !s.is_empty() && !parts.contains(&s.as_str()) {
            parts.push(s);
        }
    }
    parts.join(". ")
}
