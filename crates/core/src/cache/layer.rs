//! One cache layer: an in-process cache in front of an optional Redis, with its own key prefix
//! and measured metrics. Redis failures never fail a lookup: they count as errors, are logged
//! at most once per interval, and the in-process layer answers alone until Redis is back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::redis::RedisCache;
use super::{BoxFuture, Cache, LayerMetrics, LayerSnapshot, MemoryCache};

/// A value found in Redis is kept in-process this long at most, so a change made by another
/// replica (or a Redis TTL) is seen soon.
const LOCAL_COPY_TTL: Duration = Duration::from_secs(300);
const LOG_EVERY: Duration = Duration::from_secs(30);

/// Logs a repeating failure once per interval, with how many were not logged.
struct LogThrottle {
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogThrottle {
    fn warn(&self, layer: &str, message: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let due = state.0.is_none_or(|t| t.elapsed() >= LOG_EVERY);
        if due {
            let suppressed = std::mem::take(&mut state.1);
            state.0 = Some(Instant::now());
            tracing::warn!(layer, suppressed, "redis cache call failed, serving from the in-process cache: {message}");
        } else {
            state.1 += 1;
        }
    }
}

/// A layer's metrics as `/api/health/cache` shows them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerReport {
    pub layer: &'static str,
    /// `memory`, or `memory+redis` when a Redis is configured.
    pub backend: &'static str,
    #[serde(flatten)]
    pub metrics: LayerSnapshot,
    /// Entries in the in-process part.
    pub entries: u64,
    /// Bytes the in-process part holds, as its bound counts them.
    pub bytes: u64,
}

pub struct Layer {
    name: &'static str,
    prefix: String,
    local: MemoryCache,
    remote: Option<Arc<RedisCache>>,
    metrics: LayerMetrics,
    log: LogThrottle,
}

impl Layer {
    pub fn new(name: &'static str, version: u32, local: MemoryCache, remote: Option<Arc<RedisCache>>) -> Self {
        Self {
            name,
            prefix: format!("ic:{name}:v{version}:"),
            local,
            remote,
            metrics: LayerMetrics::default(),
            log: LogThrottle { state: Mutex::new((None, 0)) },
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.get_many(&[key.to_string()]).await.pop().flatten()
    }

    /// Values of `keys`, in order: in-process first, then Redis for the rest (one round trip).
    pub async fn get_many(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        let started = Instant::now();
        let full: Vec<String> = keys.iter().map(|k| self.full(k)).collect();
        let mut out = Vec::with_capacity(keys.len());
        for k in &full {
            out.push(self.local.get(k).await);
        }
        if let Some(remote) = &self.remote {
            let missing: Vec<usize> = (0..out.len()).filter(|&i| out[i].is_none()).collect();
            if !missing.is_empty() {
                let wanted: Vec<String> = missing.iter().map(|&i| full[i].clone()).collect();
                match remote.get_many(&wanted).await {
                    Ok(values) => {
                        for (i, v) in missing.into_iter().zip(values) {
                            if let Some(v) = v {
                                self.local.set(&full[i], v.clone(), LOCAL_COPY_TTL).await;
                                out[i] = Some(v);
                            }
                        }
                    }
                    Err(e) => {
                        self.metrics.error();
                        self.log.warn(self.name, &e);
                    }
                }
            }
        }
        let hits = out.iter().filter(|v| v.is_some()).count() as u64;
        self.metrics.record_many(hits, out.len() as u64 - hits, started.elapsed());
        out
    }

    pub async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        self.set_many(vec![(key.to_string(), value)], ttl).await;
    }

    pub async fn set_many(&self, items: Vec<(String, Vec<u8>)>, ttl: Duration) {
        let items: Vec<(String, Vec<u8>)> = items.into_iter().map(|(k, v)| (self.full(&k), v)).collect();
        if let Some(remote) = &self.remote
            && let Err(e) = remote.set_many(&items, ttl).await
        {
            self.metrics.error();
            self.log.warn(self.name, &e);
        }
        let local_ttl = if self.remote.is_some() { ttl.min(LOCAL_COPY_TTL) } else { ttl };
        for (k, v) in items {
            self.local.set(&k, v, local_ttl).await;
        }
    }

    pub async fn report(&self) -> LayerReport {
        let (entries, bytes) = self.local.size().await;
        LayerReport {
            layer: self.name,
            backend: if self.remote.is_some() { "memory+redis" } else { "memory" },
            metrics: self.metrics.snapshot(),
            entries,
            bytes,
        }
    }
}

/// The crawler's HTML cache goes through the same seam.
impl Cache for Layer {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(Layer::get(self, key))
    }

    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> BoxFuture<'a, ()> {
        Box::pin(Layer::set(self, key, value, ttl))
    }

    fn kind(&self) -> &'static str {
        if self.remote.is_some() { "redis" } else { "memory" }
    }
}
