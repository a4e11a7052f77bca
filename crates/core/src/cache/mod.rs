//! The cache seam: one trait for every cache layer, so the in-process default and a shared Redis
//! can stand behind the same calls. Values are bytes; each layer owns its key scheme and TTLs.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod layer;
pub mod layers;
mod metrics;
mod redis;

pub use layer::{Layer, LayerReport};
pub use layers::CacheLayers;
pub use metrics::{LayerMetrics, LayerSnapshot};
pub use redis::RedisCache;

pub use crate::BoxFuture;

pub trait Cache: Send + Sync {
    /// The value under `key`, if present and not expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
    /// Stores `value` under `key` for `ttl`.
    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> BoxFuture<'a, ()>;
    /// Which implementation this is, for metrics and logs.
    fn kind(&self) -> &'static str;
}

#[derive(Clone)]
struct Entry {
    /// Not `Arc<[u8]>`: making one from the `Vec` a caller hands over copies it (a page of
    /// the HTML cache is megabytes at worst).
    bytes: Arc<Vec<u8>>,
    expires: Instant,
}

/// The in-process cache: bounded by total bytes, per-entry TTLs.
#[derive(Clone)]
pub struct MemoryCache {
    inner: moka::future::Cache<String, Entry>,
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of keys and values and at most `max_entries` entries:
    /// every entry weighs at least `max_bytes / max_entries`, so one capacity bounds both.
    pub fn new(max_entries: u64, max_bytes: u64) -> Self {
        let min_weight = (max_bytes / max_entries.max(1)).clamp(1, u64::from(u32::MAX));
        let inner = moka::future::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |k: &String, v: &Entry| {
                let bytes = (k.len() + v.bytes.len() + 64) as u64;
                bytes.max(min_weight).min(u64::from(u32::MAX)) as u32
            })
            .time_to_live(Duration::from_secs(30 * 24 * 3600))
            .build();
        Self { inner }
    }

    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    /// (entries, bytes) now, after pending evictions and inserts are applied (moka counts
    /// lazily). Bytes as the bound counts them: key + value + 64 per entry, at least
    /// `max_bytes / max_entries` each.
    pub async fn size(&self) -> (u64, u64) {
        self.inner.run_pending_tasks().await;
        (self.inner.entry_count(), self.inner.weighted_size())
    }
}

impl Cache for MemoryCache {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let entry = self.inner.get(key).await?;
            if entry.expires <= Instant::now() {
                self.inner.invalidate(key).await;
                return None;
            }
            Some(entry.bytes.to_vec())
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let entry = Entry { bytes: Arc::new(value), expires: Instant::now() + ttl };
            self.inner.insert(key.to_string(), entry).await;
        })
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hit_miss_and_expiry() {
        let c = MemoryCache::new(100, 1 << 20);
        assert_eq!(c.get("a").await, None);
        c.set("a", b"1".to_vec(), Duration::from_secs(60)).await;
        assert_eq!(c.get("a").await, Some(b"1".to_vec()));
        c.set("b", b"2".to_vec(), Duration::from_millis(20)).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(c.get("b").await, None);
    }
}
