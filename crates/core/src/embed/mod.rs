//! Text embeddings: the `Embedder` seam and the local all-MiniLM-L6-v2 on ONNX Runtime.
//!
//! Batch-first: texts are tokenized, sorted into length buckets (padding only to the longest
//! text of a bucket, which roughly doubles throughput on short alt texts), run, mean-pooled over
//! the attention mask and L2-normalized, as sentence-transformers does.

mod onnx;

pub use onnx::OnnxEmbedder;

use crate::error::Result;

pub trait Embedder: Send + Sync {
    /// One normalized vector per text, in the order given.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// Names the model and its version: cached vectors are keyed by it.
    fn model_id(&self) -> &str;
    fn dimension(&self) -> usize;
}
