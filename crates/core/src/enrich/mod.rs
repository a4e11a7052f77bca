//! Image enrichment: fetch each kept image once (through the crawler's guarded, size-capped
//! fetcher) and learn what markup cannot tell — the real format and pixel size, transparency,
//! brightness and a perceptual hash — so "high-resolution", "transparent" and "dark" mean what
//! the pixels say, and one picture under two URLs is shown once.

mod analyze;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

pub use analyze::{SAME_PICTURE_BITS, analyze, distance, sniff};

use crate::config::CrawlerSettings;
use crate::crawl::CrawlOptions;
use crate::crawl::fetch::{Fetched, Fetcher, Want};
use crate::crawl::guard::Guard;
use crate::crawl::robots::Robots;
use crate::error::{Error, Result};
use crate::extract::ImageRecord;
use crate::search::ImageFormat;

/// What an image's bytes told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFacts {
    pub format: ImageFormat,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Size of the file.
    pub bytes: u64,
    /// Whether any pixel is (partly) transparent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transparent: Option<bool>,
    /// Mean brightness, 0 (black) to 255 (white).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub luma: Option<u8>,
    /// Difference hash, as 16 hex digits (a u64 does not survive JavaScript's numbers).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex64")]
    pub dhash: Option<u64>,
}

/// Brightness below this is "dark", above [`LIGHT_LUMA`] "light".
pub const DARK_LUMA: u8 = 96;
pub const LIGHT_LUMA: u8 = 160;

mod hex64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(h) => s.serialize_str(&format!("{h:016x}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| u64::from_str_radix(&s, 16).map_err(serde::de::Error::custom)).transpose()
    }
}

/// Counts of one enrichment pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichStats {
    pub analysed: u64,
    /// Fetch failed, or the bytes were no image we can read.
    pub failed: u64,
    /// Not fetched: the site's robots.txt forbids it.
    pub refused_by_robots: u64,
    pub bytes: u64,
}

type RobotsMap = Arc<Mutex<HashMap<String, Arc<Robots>>>>;

/// Fetches and analyses images, a few at a time.
#[derive(Clone)]
pub struct Enricher {
    fetcher: Fetcher,
    concurrency: usize,
    /// robots.txt per origin, when `crawler.respect_robots_txt` is on: an image a site's
    /// robots.txt forbids is not fetched, as for pages.
    robots: Option<RobotsMap>,
}

impl Enricher {
    /// Uses the crawler's settings: the same User-Agent, SSRF guard (and allow-list), timeouts,
    /// redirect limit and body cap as page fetches.
    pub fn from_settings(s: &CrawlerSettings) -> Result<Self> {
        let opts = CrawlOptions::from_settings(s);
        let fetcher = Fetcher::new(opts.fetch, Guard::new(&opts.allow_hosts)).map_err(Error::Invalid)?;
        let robots = s.respect_robots_txt.then(RobotsMap::default);
        Ok(Self { fetcher, concurrency: s.per_host_concurrency.clamp(1, 16), robots })
    }

    /// Whether robots.txt lets us fetch `url` (fetched once per origin; an unreachable one
    /// forbids everything, a missing one nothing, as for pages).
    async fn allowed(&self, url: &url::Url) -> bool {
        let Some(map) = &self.robots else { return true };
        // A URL the SSRF guard refuses fails at the fetch; its robots.txt is never asked for.
        if self.fetcher.guard().check_url(url).is_err() {
            return true;
        }
        let origin = url.origin().ascii_serialization();
        let known = map.lock().unwrap_or_else(|e| e.into_inner()).get(&origin).cloned();
        let robots = match known {
            Some(r) => r,
            None => {
                let Ok(robots_url) = url.join("/robots.txt") else { return false };
                let robots = Arc::new(Robots::from_fetched(self.fetcher.fetch(&robots_url, Want::Any, |_| true).await));
                map.lock().unwrap_or_else(|e| e.into_inner()).insert(origin, robots.clone());
                robots
            }
        };
        robots.allowed(url.as_str())
    }

    /// Analyses every record that has no facts yet, in place. Records whose image cannot be
    /// fetched or read keep what their markup said.
    pub async fn enrich(&self, records: &mut [ImageRecord]) -> EnrichStats {
        let todo: Vec<(usize, url::Url)> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.facts.is_none() && matches!(r.url.scheme(), "http" | "https"))
            .map(|(i, r)| (i, r.url.clone()))
            .collect();
        let mut results = futures_util::stream::iter(todo)
            .map(|(i, url)| async move {
                if !self.allowed(&url).await {
                    return (i, Err(()));
                }
                (i, Ok(fetch_and_analyze(&self.fetcher, url).await))
            })
            .buffer_unordered(self.concurrency);
        let mut stats = EnrichStats::default();
        while let Some((i, found)) = results.next().await {
            match found {
                Ok(Some((facts, bytes))) => {
                    stats.analysed += 1;
                    stats.bytes += bytes;
                    records[i].facts = Some(facts);
                }
                Ok(None) => stats.failed += 1,
                Err(()) => stats.refused_by_robots += 1,
            }
        }
        stats
    }
}

/// Why an analysed image is no content image after all (a pixel, or too small to show
/// anything), by its real size; `None` when it is one, or was not analysed.
pub fn too_small(record: &ImageRecord) -> Option<crate::extract::RejectReason> {
    let facts = record.facts.as_ref()?;
    crate::extract::junk::by_real_size(facts.width?, facts.height?)
}

/// Leaves out the images [`too_small`] rejects, before they are indexed; returns how many.
pub fn drop_too_small(records: &mut Vec<ImageRecord>) -> u64 {
    let found = records.len();
    records.retain(|r| too_small(r).is_none());
    (found - records.len()) as u64
}

async fn fetch_and_analyze(fetcher: &Fetcher, url: url::Url) -> Option<(ImageFacts, u64)> {
    let fetched = tokio::time::timeout(Duration::from_secs(60), fetcher.fetch(&url, Want::Bytes, |_| true)).await;
    let body = match fetched {
        // A body is only ever a 2xx answer.
        Ok(Fetched::Body(body)) => body,
        Ok(other) => {
            tracing::debug!("image {url} not analysed: {other:?}");
            return None;
        }
        Err(_) => return None,
    };
    let bytes = body.bytes;
    let raw = body.raw;
    let facts = tokio::task::spawn_blocking(move || analyze(&raw)).await.ok().flatten()?;
    Some((facts, bytes))
}
