//! Per-host politeness: at most N requests in flight to one host, and a minimum gap between
//! request starts (the larger of the settings' delay and the host's robots.txt Crawl-delay).
//! One crawl's page fetches and its images' analysis fetches share it: together they never
//! exceed a host's limit, and the semaphore's queue is first come, first served, so neither
//! starves the other. Each host also counts its requests and how long they held a slot, which
//! gives the politeness floor ([`Hosts::floor`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::timings::{Clock, Floor, Stage, Wait};

/// What a request is for, as the floor counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Page,
    Image,
}

pub struct Hosts {
    per_host: usize,
    delay: Duration,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

struct Slot {
    permits: Arc<Semaphore>,
    delay: Mutex<Duration>,
    next_start: tokio::sync::Mutex<Instant>,
    pages: AtomicU64,
    images: AtomicU64,
    held_us: AtomicU64,
}

/// A host's request slot, held while the request runs; counts the time it was held.
pub struct Permit {
    _permit: OwnedSemaphorePermit,
    slot: Arc<Slot>,
    since: Instant,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let held = self.since.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        self.slot.held_us.fetch_add(held, Relaxed);
    }
}

impl Hosts {
    pub fn new(per_host: usize, delay: Duration) -> Self {
        Self { per_host: per_host.max(1), delay, slots: Mutex::new(HashMap::new()) }
    }

    fn slot(&self, host: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    permits: Arc::new(Semaphore::new(self.per_host)),
                    delay: Mutex::new(self.delay),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                    pages: AtomicU64::new(0),
                    images: AtomicU64::new(0),
                    held_us: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// Raises a host's delay (robots.txt Crawl-delay); never lowers it below the settings'.
    pub fn set_crawl_delay(&self, host: &str, delay: Duration) {
        let slot = self.slot(host);
        let mut d = slot.delay.lock().unwrap_or_else(|e| e.into_inner());
        *d = (*d).max(delay);
    }

    /// Waits for a free request slot for `host` and for its turn; hold the permit while the
    /// request runs.
    pub async fn acquire(&self, host: &str, purpose: Purpose) -> Permit {
        let slot = self.slot(host);
        let permit = slot.permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let delay = *slot.delay.lock().unwrap_or_else(|e| e.into_inner());
        if !delay.is_zero() {
            let mut next = slot.next_start.lock().await;
            let now = Instant::now();
            if *next > now {
                tokio::time::sleep_until(*next).await;
            }
            *next = Instant::now() + delay;
        }
        match purpose {
            Purpose::Page => slot.pages.fetch_add(1, Relaxed),
            Purpose::Image => slot.images.fetch_add(1, Relaxed),
        };
        Permit { _permit: permit, slot, since: Instant::now() }
    }

    /// [`Hosts::acquire`], the wait counted on `clock` against `stage`.
    pub async fn acquire_timed(&self, host: &str, purpose: Purpose, clock: &Clock, stage: Stage) -> Permit {
        let t = std::time::Instant::now();
        let permit = self.acquire(host, purpose).await;
        clock.waited(stage, Wait::Slot, t.elapsed());
        permit
    }

    /// The politeness floor so far: the busiest host's request time ÷ its concurrency, or its
    /// request count × its delay when that is longer.
    pub fn floor(&self) -> Floor {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut best = Floor { per_host_concurrency: self.per_host as u64, ..Floor::default() };
        for (host, slot) in slots.iter() {
            let (pages, images) = (slot.pages.load(Relaxed), slot.images.load(Relaxed));
            let held_ms = slot.held_us.load(Relaxed) as f64 / 1000.0;
            let delay = *slot.delay.lock().unwrap_or_else(|e| e.into_inner());
            let by_time = held_ms / self.per_host as f64;
            let by_delay = (pages + images) as f64 * delay.as_secs_f64() * 1000.0;
            let ms = by_time.max(by_delay).round() as u64;
            if ms > best.ms || best.host.is_empty() {
                best = Floor {
                    ms,
                    host: host.clone(),
                    page_requests: pages,
                    image_requests: images,
                    mean_request_ms: if pages + images == 0 {
                        0.0
                    } else {
                        (held_ms / (pages + images) as f64 * 10.0).round() / 10.0
                    },
                    per_host_concurrency: self.per_host as u64,
                };
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn starts_are_spaced_by_the_delay() {
        let hosts = Hosts::new(4, Duration::from_millis(100));
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(hosts.acquire("a", Purpose::Page).await);
        }
        assert!(t0.elapsed() >= Duration::from_millis(200));
        let t1 = Instant::now();
        drop(hosts.acquire("b", Purpose::Page).await);
        assert!(t1.elapsed() < Duration::from_millis(10), "hosts do not wait for each other");
        hosts.set_crawl_delay("a", Duration::from_secs(1));
        let t2 = Instant::now();
        drop(hosts.acquire("a", Purpose::Page).await);
        drop(hosts.acquire("a", Purpose::Page).await);
        assert!(t2.elapsed() >= Duration::from_secs(1));
    }

    #[tokio::test]
    async fn concurrency_per_host_is_bounded() {
        let hosts = Arc::new(Hosts::new(2, Duration::ZERO));
        let a = hosts.acquire("h", Purpose::Page).await;
        let _b = hosts.acquire("h", Purpose::Page).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), hosts.acquire("h", Purpose::Image)).await;
        assert!(waiting.is_err(), "a third request waits");
        drop(a);
        assert!(tokio::time::timeout(Duration::from_millis(50), hosts.acquire("h", Purpose::Image)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_is_the_busiest_hosts_request_time_over_its_concurrency() {
        let hosts = Hosts::new(2, Duration::ZERO);
        for purpose in [Purpose::Page, Purpose::Page, Purpose::Image, Purpose::Image] {
            let permit = hosts.acquire("busy", purpose).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(permit);
        }
        drop(hosts.acquire("quiet", Purpose::Page).await);
        let floor = hosts.floor();
        assert_eq!(floor.host, "busy");
        assert_eq!((floor.page_requests, floor.image_requests, floor.per_host_concurrency), (2, 2, 2));
        assert_eq!(floor.ms, 40, "4 requests × 20 ms ÷ 2");
        assert_eq!(floor.mean_request_ms, 20.0);
        let spaced = Hosts::new(4, Duration::from_millis(100));
        for _ in 0..3 {
            drop(spaced.acquire("a", Purpose::Page).await);
        }
        assert_eq!(spaced.floor().ms, 300, "the delay bounds a host that answers at once");
    }
}
