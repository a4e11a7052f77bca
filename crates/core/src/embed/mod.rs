//! Text embeddings: the `Embedder` seam and the local all-MiniLM-L6-v2 on ONNX Runtime.
//!
//! Batch-first: texts are tokenized, sorted into length buckets (padding only to the longest
//! text of a bucket, which roughly doubles throughput on short alt texts), run, mean-pooled over
//! the attention mask and L2-normalized, as sentence-transformers does.

mod batcher;
mod cached;
mod graph;
mod layered;
mod onnx;
mod openai;

pub use batcher::QueryBatcher;
pub use cached::CachedEmbedder;
pub use graph::fuse::Fused;
pub use layered::{embed_cached, embed_query_cached};
pub use onnx::OnnxEmbedder;
pub use openai::OpenAiEmbedder;

use std::borrow::Cow;
use std::sync::Arc;

use crate::config::{EmbedBackend, ModelSettings};
use crate::error::Result;
use crate::model::text::clean_text;

/// The embedder the settings name: the local model (default) or an OpenAI-compatible endpoint.
pub fn load(model: &ModelSettings) -> Result<Arc<dyn Embedder>> {
    Ok(match model.backend {
        EmbedBackend::Onnx => Arc::new(OnnxEmbedder::load(model)?),
        EmbedBackend::OpenAi => Arc::new(OpenAiEmbedder::connect(&model.openai)?),
    })
}

/// `texts` through the model on a blocking thread: inference is CPU work.
async fn embed_off_thread(embedder: Arc<dyn Embedder>, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed(&refs)
    })
    .await
    .map_err(|e| crate::error::Error::Model(format!("the embedding task failed: {e}")))?
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
///
/// Each field is cut to [`MAX_FIELD_CHARS`](crate::model::MAX_FIELD_CHARS), as the extractor
/// cuts what it reads from a page, so a record from anywhere else (a long paragraph of context)
/// is embedded like a crawled one: a whole paragraph dilutes the alt and title in one mean-pooled
/// vector, which measured worse on Concadia (vector nDCG@10 0.897 against 0.908 with the cut,
/// docs/benchmarks.md). The keyword leg still indexes the whole field.
pub fn image_text(ctx: &crate::model::ImageContext) -> String {
    let mut parts: Vec<Cow<'_, str>> = Vec::new();
    // The heading the image sits under names it (an article's title over its picture), unless
    // it heads a whole gallery: embedding "Photos" into every picture of a gallery blurs them
    // (measured end to end: Concadia +0.004 nDCG@10 with the heading, Flickr8k galleries −0.003
    // when their heading was embedded too).
    let heading = if ctx.heading_over_many { &String::new() } else { &ctx.heading };
    for s in [&ctx.alt, &ctx.title, &ctx.figcaption, &ctx.aria_label, heading, &ctx.nearby_text] {
        // Bytes bound characters, so a field this short is already within the cut.
        let field = if s.len() <= crate::model::MAX_FIELD_CHARS {
            Cow::Borrowed(s.as_str())
        } else {
            Cow::Owned(clean_text([s.as_str()]))
        };
        if !field.is_empty() && !parts.contains(&field) {
            parts.push(field);
        }
    }
    parts.join(". ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ImageContext, MAX_FIELD_CHARS};

    #[test]
    fn the_heading_is_embedded_unless_it_heads_a_gallery() {
        let ctx =
            ImageContext { alt: "A heron".into(), heading: "Birds of the delta".into(), ..ImageContext::default() };
        assert_eq!(image_text(&ctx), "A heron. Birds of the delta");
        let gallery = ImageContext { heading_over_many: true, ..ctx };
        assert_eq!(image_text(&gallery), "A heron");
    }

    #[test]
    fn image_text_joins_distinct_fields() {
        let ctx = ImageContext {
            alt: "A red kayak".into(),
            title: "A red kayak".into(),
            figcaption: "Morning on the lake".into(),
            nearby_text: "We paddled out at dawn.".into(),
            ..ImageContext::default()
        };
        assert_eq!(image_text(&ctx), "A red kayak. Morning on the lake. We paddled out at dawn.");
        assert_eq!(image_text(&ImageContext::default()), "");
    }

    #[test]
    fn image_text_cuts_long_fields_like_the_extractor() {
        let paragraph = "word ".repeat(200);
        let ctx = ImageContext { alt: "Kayak".into(), nearby_text: paragraph.clone(), ..ImageContext::default() };
        let text = image_text(&ctx);
        let context = text.strip_prefix("Kayak. ").expect("the alt comes first");
        assert_eq!(context.chars().count(), MAX_FIELD_CHARS);
        assert!(paragraph.starts_with(context));
        // A field already within the cut is kept as it is, odd spacing and all.
        let short = ImageContext { alt: "two  spaces".into(), ..ImageContext::default() };
        assert_eq!(image_text(&short), "two  spaces");
    }
}
