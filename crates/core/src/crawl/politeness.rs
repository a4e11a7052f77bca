//! Per-host politeness: at most N requests in flight to one host, and a minimum gap between
//! request starts (the larger of the settings' delay and the host's robots.txt Crawl-delay).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub struct Hosts {
    per_host: usize,
    delay: Duration,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

struct Slot {
    permits: Arc<Semaphore>,
    delay: Mutex<Duration>,
    next_start: tokio::sync::Mutex<Instant>,
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
    pub async fn acquire(&self, host: &str) -> OwnedSemaphorePermit {
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
        permit
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
            drop(hosts.acquire("a").await);
        }
        assert!(t0.elapsed() >= Duration::from_millis(200));
        let t1 = Instant::now();
        drop(hosts.acquire("b").await);
        assert!(t1.elapsed() < Duration::from_millis(10), "hosts do not wait for each other");
        hosts.set_crawl_delay("a", Duration::from_secs(1));
        let t2 = Instant::now();
        drop(hosts.acquire("a").await);
        drop(hosts.acquire("a").await);
        assert!(t2.elapsed() >= Duration::from_secs(1));
    }

    #[tokio::test]
    async fn concurrency_per_host_is_bounded() {
        let hosts = Arc::new(Hosts::new(2, Duration::ZERO));
        let a = hosts.acquire("h").await;
        let _b = hosts.acquire("h").await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), hosts.acquire("h")).await;
        assert!(waiting.is_err(), "a third request waits");
        drop(a);
        assert!(tokio::time::timeout(Duration::from_millis(50), hosts.acquire("h")).await.is_ok());
    }
}
