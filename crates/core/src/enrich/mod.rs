//! Image enrichment: fetch each kept image once (through the crawler's guarded, size-capped
//! fetcher) and learn what markup cannot tell — the real format and pixel size, transparency,
//! brightness and a perceptual hash — so "high-resolution", "transparent" and "dark" mean what
//! the pixels say, and one picture under two URLs is shown once.

mod analyze;
mod small_copy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

pub use analyze::{SAME_PICTURE_BITS, analyze, analyze_within, distance, sniff};

use crate::config::CrawlerSettings;
use crate::crawl::politeness::{Hosts, Purpose};
use crate::error::Result;
use crate::model::ImageFacts;
use crate::model::ImageRecord;
use crate::net::fetch::looks_like_html;
use crate::net::{Fetched, Fetcher, RobotsCache, Want, any_redirect};
use crate::timings::{Clock, Stage, Wait};

/// Images decoded at once in the process: one core fewer than there are, so the async threads
/// (every request's, `/health`'s) always have one. Decoding is the CPU-heavy part of reading an
/// image; more at once would not finish sooner on these cores, only make everything else wait.
static DECODE_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(crate::blocking::cores_but_one()));

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

/// Fetches and analyses images, a few at a time per host.
#[derive(Clone)]
pub struct Enricher {
    fetcher: Arc<dyn Fetcher>,
    /// Requests in flight to one host when no crawl's slots are given.
    per_host: usize,
    /// robots.txt per origin, when `crawler.respect_robots_txt` is on: an image a site's
    /// robots.txt forbids is not fetched, as for pages.
    robots: Option<Arc<RobotsCache>>,
}

impl Enricher {
    /// Fetches through `fetcher` (the crawl's, with its User-Agent, SSRF guard and limits), at
    /// most `per_host` at a time from one host, asking robots.txt first when `robots` is given.
    pub fn new(fetcher: Arc<dyn Fetcher>, per_host: usize, robots: Option<Arc<RobotsCache>>) -> Self {
        Self { fetcher, per_host: per_host.clamp(1, 16), robots }
    }

    /// How many images are read at once (each host's own limit holds besides).
    pub fn in_flight(&self) -> usize {
        self.per_host * 4
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
        self.enrich_at(records, stop, self.per_host, self.in_flight()).await
    }

    /// [`Enricher::enrich_until`] one image at a time: the caller holds one request slot of
    /// the host for all of them (a page of a crawl replicas share, whose lease is that slot).
    pub async fn enrich_one_by_one(
        &self,
        records: &mut Vec<ImageRecord>,
        stop: impl Future<Output = ()>,
    ) -> EnrichStats {
        self.enrich_at(records, stop, 1, 1).await
    }

    async fn enrich_at(
        &self,
        records: &mut Vec<ImageRecord>,
        stop: impl Future<Output = ()>,
        per_host: usize,
        in_flight: usize,
    ) -> EnrichStats {
        let todo: Vec<(usize, url::Url)> =
            records.iter().enumerate().filter(|(_, r)| wants_reading(r)).map(|(i, r)| (i, r.url.clone())).collect();
        let hosts = Hosts::new(per_host, Duration::ZERO);
        let clock = Clock::new();
        let (hosts, clock) = (&hosts, &clock);
        let mut results = futures_util::stream::iter(todo)
            .map(|(i, url)| async move { (i, self.read(url, hosts, clock).await) })
            .buffer_unordered(in_flight);
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
            stats.count(&found);
            match found {
                ImageRead::Facts(facts, _) => records[i].facts = Some(facts),
                ImageRead::Missing => missing[i] = true,
                ImageRead::Unread | ImageRead::Refused => {}
            }
        }
        if stats.missing > 0 {
            let mut gone = missing.into_iter();
            records.retain(|_| !gone.next().unwrap_or(false));
        }
        stats
    }

    /// Reads one image: robots.txt first, then a request slot of its host from `hosts` (a
    /// crawl's, so its page and image fetches share each host's limit), the fetch, and the
    /// analysis off the async threads; `clock` counts the time of each.
    pub async fn read(&self, url: url::Url, hosts: &Hosts, clock: &Clock) -> ImageRead {
        let permit = hosts.acquire_timed(url.host_str().unwrap_or(""), Purpose::Image, clock, Stage::FetchImages).await;
        // Under the slot: the first image of a host may fetch its robots.txt.
        if !self.allowed(&url).await {
            return ImageRead::Refused;
        }
        let fetch = tokio::time::timeout(Duration::from_secs(60), self.fetcher.get(&url, Want::Bytes, &any_redirect));
        let fetched = clock.time(Stage::FetchImages, fetch).await;
        drop(permit);
        let body = match fetched {
            // A body is only ever a 2xx answer.
            Ok(Fetched::Body(body)) => body,
            Ok(Fetched::Failed(e)) if e.is_gone() => return ImageRead::Missing,
            Ok(other) => {
                tracing::debug!("image {url} not analysed: {other:?}");
                return ImageRead::Unread;
            }
            Err(_) => return ImageRead::Unread,
        };
        let bytes = body.bytes;
        let raw = body.raw;
        let html = body.content_type.to_ascii_lowercase().starts_with("text/html");
        let t = Instant::now();
        let core = DECODE_SLOTS.acquire().await;
        clock.waited(Stage::Decode, Wait::Slot, t.elapsed());
        let t = Instant::now();
        let read = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let facts = analyze(&raw).ok_or_else(|| html || looks_like_html(&raw));
            (facts, t.elapsed())
        })
        .await;
        drop(core);
        match read {
            Ok((facts, took)) => {
                clock.busy(Stage::Decode, took);
                match facts {
                    Ok(facts) => ImageRead::Facts(facts, bytes),
                    Err(true) => ImageRead::Missing,
                    Err(false) => ImageRead::Unread,
                }
            }
            Err(_) => {
                clock.busy(Stage::Decode, t.elapsed());
                ImageRead::Unread
            }
        }
    }
}

impl EnrichStats {
    /// Counts one image's read.
    pub fn count(&mut self, read: &ImageRead) {
        match read {
            ImageRead::Facts(_, bytes) => {
                self.analysed += 1;
                self.bytes += bytes;
            }
            ImageRead::Missing => {
                self.failed += 1;
                self.missing += 1;
            }
            ImageRead::Unread => self.failed += 1,
            ImageRead::Refused => self.refused_by_robots += 1,
        }
    }
}

/// Whether an image is still to be read: it has no facts yet and its bytes can be fetched.
pub fn wants_reading(record: &ImageRecord) -> bool {
    record.facts.is_none() && matches!(record.url.scheme(), "http" | "https")
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

/// What reading one image told.
pub enum ImageRead {
    /// Its facts, and the bytes fetched.
    Facts(ImageFacts, u64),
    /// Not there: 404 or 410, or a web page where the image should be.
    Missing,
    /// Not read this time (network, server error, a format we cannot decode): the markup stands.
    Unread,
    /// Not fetched: robots.txt forbids it.
    Refused,
}
