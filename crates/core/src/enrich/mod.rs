//! Image enrichment: fetch each kept image once (through the crawler's guarded, size-capped
//! fetcher) and learn what markup cannot tell — the real format and pixel size, transparency,
//! brightness and a perceptual hash — so "high-resolution", "transparent" and "dark" mean what
//! the pixels say, and one picture under two URLs is shown once.

mod analyze;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

pub use analyze::{SAME_PICTURE_BITS, analyze, analyze_within, distance, sniff};

use crate::config::CrawlerSettings;
use crate::error::Result;
use crate::model::ImageFacts;
use crate::model::ImageRecord;
use crate::net::fetch::looks_like_html;
use crate::net::{Fetched, Fetcher, RobotsCache, Want, any_redirect};

/// Counts of one enrichment pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichStats {
    pub analysed: u64,
    /// Fetch failed, or the bytes were no image we can read.
    pub failed: u64,
    /// The site says the image is not there (404, 410) or sends a web page in its place: left
    /// out, since nobody could see it. Counted in `failed` too.
    #[serde(default)]
    pub missing: u64,
    /// Not fetched: the site's robots.txt forbids it.
    pub refused_by_robots: u64,
    pub bytes: u64,
}

/// Fetches and analyses images, a few at a time.
#[derive(Clone)]
pub struct Enricher {
    fetcher: Arc<dyn Fetcher>,
    concurrency: usize,
    /// robots.txt per origin, when `crawler.respect_robots_txt` is on: an image a site's
    /// robots.txt forbids is not fetched, as for pages.
    robots: Option<Arc<RobotsCache>>,
}

impl Enricher {
    /// Fetches through `fetcher` (the crawl's, with its User-Agent, SSRF guard and limits), a few
    /// at a time, asking robots.txt first when `robots` is given.
    pub fn new(fetcher: Arc<dyn Fetcher>, concurrency: usize, robots: Option<Arc<RobotsCache>>) -> Self {
        Self { fetcher, concurrency: concurrency.clamp(1, 16), robots }
    }

    /// Uses the crawler's settings: the same User-Agent, SSRF guard (and allow-list), timeouts,
    /// redirect limit and body cap as page fetches.
    pub fn from_settings(s: &CrawlerSettings) -> Result<Self> {
        let fetcher = crate::net::fetcher_from_settings(s)?;
        let robots = s.respect_robots_txt.then(|| Arc::new(RobotsCache::new(fetcher.clone())));
        Ok(Self::new(fetcher, s.per_host_concurrency, robots))
    }

    /// Whether robots.txt lets us fetch `url` (read once per origin, by the same rule as for
    /// pages: an unreachable one forbids everything, a missing one nothing).
    async fn allowed(&self, url: &url::Url) -> bool {
        let Some(robots) = &self.robots else { return true };
        // A URL the SSRF guard refuses fails at the fetch; its robots.txt is never asked for.
        if self.fetcher.guard().check_url(url).is_err() {
            return true;
        }
        robots.for_url(url).await.0.allowed(url.as_str())
    }

    /// Analyses every record that has no facts yet, in place, and removes the images the site
    /// says are not there ([`EnrichStats::missing`]). Records whose image cannot be fetched or
    /// read for any other reason (a timeout, a server error, a format we cannot decode) keep
    /// what their markup said.
    pub async fn enrich(&self, records: &mut Vec<ImageRecord>) -> EnrichStats {
        self.enrich_until(records, std::future::pending()).await
    }

    /// [`Enricher::enrich`] until `stop` resolves (a cancelled crawl): the images not analysed
    /// by then keep what their markup said, and no fetch for them is started.
    pub async fn enrich_until(&self, records: &mut Vec<ImageRecord>, stop: impl Future<Output = ()>) -> EnrichStats {
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
                (i, Ok(fetch_and_analyze(self.fetcher.as_ref(), url).await))
            })
            .buffer_unordered(self.concurrency);
        let mut stats = EnrichStats::default();
        let mut missing = vec![false; records.len()];
        let mut stop = std::pin::pin!(stop);
        loop {
            let (i, found) = tokio::select! {
                biased;
                () = &mut stop => break,
                next = results.next() => match next {
                    Some(next) => next,
                    None => break,
                },
            };
            match found {
                Ok(Read::Facts(facts, bytes)) => {
                    stats.analysed += 1;
                    stats.bytes += bytes;
                    records[i].facts = Some(facts);
                }
                Ok(Read::Missing) => {
                    stats.failed += 1;
                    stats.missing += 1;
                    missing[i] = true;
                }
                Ok(Read::Unread) => stats.failed += 1,
                Err(()) => stats.refused_by_robots += 1,
            }
        }
        if stats.missing > 0 {
            let mut gone = missing.into_iter();
            records.retain(|_| !gone.next().unwrap_or(false));
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

/// What fetching one image told.
enum Read {
    Facts(ImageFacts, u64),
    /// Not there: 404 or 410, or a web page where the image should be.
    Missing,
    /// Not read this time (network, server error, a format we cannot decode): the markup stands.
    Unread,
}

async fn fetch_and_analyze(fetcher: &dyn Fetcher, url: url::Url) -> Read {
    let fetched = tokio::time::timeout(Duration::from_secs(60), fetcher.get(&url, Want::Bytes, &any_redirect)).await;
    let body = match fetched {
        // A body is only ever a 2xx answer.
        Ok(Fetched::Body(body)) => body,
        Ok(Fetched::Failed(e)) if e.is_gone() => return Read::Missing,
        Ok(other) => {
            tracing::debug!("image {url} not analysed: {other:?}");
            return Read::Unread;
        }
        Err(_) => return Read::Unread,
    };
    let bytes = body.bytes;
    let raw = body.raw;
    let html = body.content_type.to_ascii_lowercase().starts_with("text/html");
    match tokio::task::spawn_blocking(move || analyze(&raw).ok_or_else(|| html || looks_like_html(&raw))).await {
        Ok(Ok(facts)) => Read::Facts(facts, bytes),
        Ok(Err(true)) => Read::Missing,
        _ => Read::Unread,
    }
}
