//! Embedding through the embedding cache layer (in-process, and Redis when configured): each
//! distinct text is looked up once per call (one round trip for the batch), only the misses are
//! run through the model (on a blocking thread), and the new vectors are stored for next time.
//! Keys carry the model id, so a model change never serves another model's vectors.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Embedder, QueryBatcher, embed_off_thread};
use crate::cache::Layer;
use crate::cache::layers::{EMBEDDING_TTL, key};
use crate::error::Result;

fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(bytes: &[u8], dim: usize) -> Option<Vec<f32>> {
    (bytes.len() == dim * 4)
        .then(|| bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// A search's text, through the cache layer and, on a miss, the query batcher (with the other
/// searches waiting for the model). The flag says whether the cache had it.
pub async fn embed_query_cached(batcher: &QueryBatcher, layer: &Layer, text: &str) -> Result<(Vec<f32>, bool)> {
    let embedder = batcher.embedder();
    let k = key(&[embedder.model_id(), text]);
    if let Some(v) = layer.get(&k).await.and_then(|b| decode(&b, embedder.dimension())) {
        return Ok((v, true));
    }
    let v = batcher.embed(text.to_string()).await?;
    layer.set(&k, encode(&v), EMBEDDING_TTL).await;
    Ok((v, false))
}

/// One vector per text, in order. Counts: (served from the cache, embedded now).
pub async fn embed_cached(
    embedder: Arc<dyn Embedder>,
    layer: &Layer,
    texts: &[String],
) -> Result<(Vec<Vec<f32>>, (usize, usize))> {
    let model = embedder.model_id().to_string();
    let dim = embedder.dimension();
    let mut distinct: Vec<&String> = Vec::new();
    let mut seen = HashMap::new();
    for t in texts {
        seen.entry(t.as_str()).or_insert_with(|| {
            distinct.push(t);
            distinct.len() - 1
        });
    }
    let keys: Vec<String> = distinct.iter().map(|t| key(&[&model, t])).collect();
    let mut vectors: Vec<Option<Vec<f32>>> =
        layer.get_many(&keys).await.into_iter().map(|v| v.and_then(|b| decode(&b, dim))).collect();
    let todo: Vec<usize> = (0..distinct.len()).filter(|&i| vectors[i].is_none()).collect();
    let cached = distinct.len() - todo.len();
    if !todo.is_empty() {
        let batch: Vec<String> = todo.iter().map(|&i| distinct[i].clone()).collect();
        let fresh = embed_off_thread(embedder.clone(), batch).await?;
        let mut store = Vec::with_capacity(todo.len());
        for (&i, v) in todo.iter().zip(fresh) {
            store.push((keys[i].clone(), encode(&v)));
            vectors[i] = Some(v);
        }
        layer.set_many(store, EMBEDDING_TTL).await;
    }
    let out = texts.iter().map(|t| vectors[seen[t.as_str()]].clone().unwrap_or_default()).collect();
    Ok((out, (cached, todo.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheLayers;
    use crate::config::CacheSettings;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);

    impl Embedder for Counting {
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.0.fetch_add(texts.len(), Ordering::Relaxed);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
        fn model_id(&self) -> &str {
            "counting-v1"
        }
        fn dimension(&self) -> usize {
            2
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn each_distinct_text_is_embedded_once() {
        let layers = CacheLayers::new(&CacheSettings::default()).unwrap();
        let model = Arc::new(Counting(AtomicUsize::new(0)));
        let texts: Vec<String> = ["a", "bb", "a", "ccc"].iter().map(|s| s.to_string()).collect();
        let (v, (cached, embedded)) = embed_cached(model.clone(), &layers.embedding, &texts).await.unwrap();
        assert_eq!(v, vec![vec![1.0, 1.0], vec![2.0, 1.0], vec![1.0, 1.0], vec![3.0, 1.0]]);
        assert_eq!((cached, embedded), (0, 3));
        let (_, (cached, embedded)) = embed_cached(model.clone(), &layers.embedding, &texts).await.unwrap();
        assert_eq!((cached, embedded), (3, 0));
        assert_eq!(model.0.load(Ordering::Relaxed), 3);
    }
}
