//! The four cache layers, each with its key scheme, TTLs and a version component (a model or
//! parser change never serves stale entries):
//!
//! | layer | key | value | TTL |
//! |---|---|---|---|
//! | parser | normalized message | parsed query | 7 days |
//! | query | parsed query, namespaces, limit, model, index generation | results | 30 min filtered, 1 h otherwise |
//! | embedding | model id, text | vector | 30 days |
//! | html | normalized URL | body (or redirect) | 24 h dynamic, 7 days static |

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::MemoryCache;
use super::layer::{Layer, LayerReport};
use super::redis::RedisCache;
use crate::config::CacheSettings;
use crate::error::Result;

pub const PARSER_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
pub const QUERY_TTL: Duration = Duration::from_secs(3600);
pub const QUERY_FILTERED_TTL: Duration = Duration::from_secs(30 * 60);
pub const EMBEDDING_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Bumped when what a layer stores changes shape or meaning.
const PARSER_VERSION: u32 = 1;
const QUERY_VERSION: u32 = 1;
const EMBEDDING_VERSION: u32 = 1;
const HTML_VERSION: u32 = 1;

pub struct CacheLayers {
    pub parser: Layer,
    pub query: Layer,
    pub embedding: Layer,
    pub html: Arc<Layer>,
    redis: Option<Arc<RedisCache>>,
}

impl CacheLayers {
    /// In-process layers sharing the settings' budget, each in front of Redis when one is
    /// configured. Never connects here: a Redis that is down at start is not an error.
    pub fn new(settings: &CacheSettings) -> Result<Self> {
        let redis = match &settings.redis_url {
            Some(url) => {
                Some(Arc::new(RedisCache::new(url.expose(), Duration::from_millis(settings.redis_timeout_ms.max(1)))?))
            }
            None => None,
        };
        // Shares of the in-process budget: vectors and pages are what is big.
        let local = |percent: u64| {
            MemoryCache::new(
                (settings.max_entries * percent / 100).max(16),
                (settings.max_bytes * percent / 100).max(1 << 16),
            )
        };
        Ok(Self {
            parser: Layer::new("parser", PARSER_VERSION, local(5), redis.clone()),
            query: Layer::new("query", QUERY_VERSION, local(15), redis.clone()),
            embedding: Layer::new("embedding", EMBEDDING_VERSION, local(40), redis.clone()),
            html: Arc::new(Layer::new("html", HTML_VERSION, local(40), redis.clone())),
            redis,
        })
    }

    pub fn redis(&self) -> Option<&Arc<RedisCache>> {
        self.redis.as_ref()
    }

    pub async fn reports(&self) -> Vec<LayerReport> {
        vec![
            self.parser.report().await,
            self.query.report().await,
            self.embedding.report().await,
            self.html.report().await,
        ]
    }
}

/// A fixed-length key from parts (SHA-256, 128 bits in hex): parts are length-prefixed, so
/// `("ab", "c")` and `("a", "bc")` differ.
pub fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_unambiguous() {
        assert_eq!(key(&["a", "b"]), key(&["a", "b"]));
        assert_ne!(key(&["ab", "c"]), key(&["a", "bc"]));
        assert_eq!(key(&["x"]).len(), 32);
    }

    #[tokio::test]
    async fn in_process_layers_hit_miss_and_expire() {
        let layers = CacheLayers::new(&CacheSettings::default()).unwrap();
        let l = &layers.query;
        assert_eq!(l.get("k").await, None);
        l.set("k", b"v".to_vec(), Duration::from_secs(60)).await;
        assert_eq!(l.get("k").await, Some(b"v".to_vec()));
        l.set("short", b"v".to_vec(), Duration::from_millis(20)).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(l.get("short").await, None);
        let r = l.report().await;
        assert_eq!((r.metrics.hits, r.metrics.misses, r.metrics.errors), (1, 2, 0));
        assert_eq!(r.backend, "memory");
        assert_eq!(r.entries, 1);
        assert!(r.bytes > 64, "{}", r.bytes);
        // Layers do not see each other's keys.
        assert_eq!(layers.parser.get("k").await, None);
    }
}
