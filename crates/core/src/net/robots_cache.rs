//! robots.txt per origin, fetched once and read by one rule for every caller (pages, sitemaps and
//! images alike): RFC 9309 by status, redirects followed (the SSRF guard checks each hop; a hop it
//! refuses makes the file unreachable, so nothing of that origin is fetched).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use url::Url;

use super::robots::Robots;
use super::{Fetcher, Want, any_redirect};

/// Origins remembered at most; past it the memory starts over (each origin is asked again).
const MAX_ORIGINS: usize = 10_000;

pub struct RobotsCache {
    fetcher: Arc<dyn Fetcher>,
    known: Mutex<HashMap<String, Arc<Robots>>>,
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

impl RobotsCache {
    pub fn new(fetcher: Arc<dyn Fetcher>) -> Self {
        Self { fetcher, known: Mutex::new(HashMap::new()) }
    }

    /// The robots.txt of `url`'s origin if it was read already.
    pub fn known(&self, url: &Url) -> Option<Arc<Robots>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&origin(url)).cloned()
    }

    /// The robots.txt of `url`'s origin, and whether this call fetched it (the first caller
    /// for an origin learns its Crawl-delay).
    pub async fn for_url(&self, url: &Url) -> (Arc<Robots>, bool) {
        if let Some(known) = self.known(url) {
            return (known, false);
        }
        let robots = match url.join("/robots.txt") {
            Ok(robots_url) => Robots::from_fetched(self.fetcher.get(&robots_url, Want::Any, &any_redirect).await),
            Err(e) => Robots::DisallowAll(format!("no robots.txt address for {url}: {e}")),
        };
        let robots = Arc::new(robots);
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= MAX_ORIGINS {
            known.clear();
        }
        // Two callers may have fetched it at once; both keep the first answer stored.
        let kept = known.entry(origin(url)).or_insert(robots).clone();
        (kept, true)
    }
}
