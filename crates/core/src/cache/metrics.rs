//! Measured cache metrics per layer: hits, misses, errors and lookup latency percentiles over the
//! most recent lookups. What `/api/health/cache` reports; nothing in it is estimated.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Lookups whose latency the percentiles are taken over.
const WINDOW: usize = 1024;

#[derive(Default)]
pub struct LayerMetrics {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    /// Ring buffer of recent lookup latencies in microseconds, and the next slot.
    latencies: Mutex<(Vec<u32>, usize)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LayerSnapshot {
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    /// hits / (hits + misses); 0 before the first lookup.
    pub hit_rate: f64,
    pub p50_us: u32,
    pub p95_us: u32,
}

impl LayerMetrics {
    pub fn record(&self, hit: bool, took: Duration) {
        self.record_many(u64::from(hit), u64::from(!hit), took);
    }

    /// One lookup of several keys: each key counts as a hit or a miss, the call's latency once.
    pub fn record_many(&self, hits: u64, misses: u64, took: Duration) {
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses.fetch_add(misses, Ordering::Relaxed);
        let us = took.as_micros().min(u128::from(u32::MAX)) as u32;
        let mut ring = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        let (buf, next) = &mut *ring;
        if buf.len() < WINDOW {
            buf.push(us);
        } else {
            buf[*next] = us;
        }
        *next = (*next + 1) % WINDOW;
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LayerSnapshot {
        let (hits, misses) = (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed));
        let mut sorted = self.latencies.lock().unwrap_or_else(|e| e.into_inner()).0.clone();
        sorted.sort_unstable();
        let pct = |p: usize| if sorted.is_empty() { 0 } else { sorted[(sorted.len() - 1) * p / 100] };
        LayerSnapshot {
            hits,
            misses,
            errors: self.errors.load(Ordering::Relaxed),
            hit_rate: if hits + misses == 0 { 0.0 } else { hits as f64 / (hits + misses) as f64 },
            p50_us: pct(50),
            p95_us: pct(95),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let m = LayerMetrics::default();
        for i in 1..=100 {
            m.record(i % 4 == 0, Duration::from_micros(i));
        }
        m.error();
        let s = m.snapshot();
        assert_eq!((s.hits, s.misses, s.errors), (25, 75, 1));
        assert!((s.hit_rate - 0.25).abs() < 1e-9);
        assert_eq!((s.p50_us, s.p95_us), (50, 95));
        // The window keeps the most recent lookups only.
        for _ in 0..WINDOW {
            m.record(true, Duration::from_micros(7));
        }
        assert_eq!(m.snapshot().p95_us, 7);
    }
}
