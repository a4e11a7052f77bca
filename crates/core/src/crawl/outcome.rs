//! What a crawl reports: page outcomes, counters and progress events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::model::ImageRecord;

/// What became of one URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PageOutcome {
    /// Fetched and parsed.
    Ok {
        status: u16,
        from_cache: bool,
        /// Whether the page was rendered in the browser, and why (absent with `render = never`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        render: Option<RenderDecision>,
    },
    /// Its canonical URL was already crawled.
    Duplicate {
        canonical: String,
    },
    /// `<meta name=robots content=noindex>`: its images are not kept.
    NoIndex,
    SkippedByRobots,
    /// An endless pattern (over-long URL, repeating path segments); not fetched.
    LinkTrap {
        reason: String,
    },
    NotHtml {
        content_type: String,
    },
    /// Redirected off-site or to a URL robots.txt forbids; not followed.
    Redirected {
        to: String,
    },
    Failed {
        reason: String,
    },
    /// More elements, or deeper nesting, than a page may have: not parsed (a hostile page could
    /// otherwise hold a core for minutes).
    TooComplex {
        reason: String,
    },
}

/// A page's rendering: done or not, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderDecision {
    pub rendered: bool,
    pub why: String,
    /// Time the browser spent on the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    /// Images found only in the rendered page.
    #[serde(default)]
    pub added_images: u32,
    /// The page's render budget ran out; its images are those there by then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub budget_ran_out: bool,
}

impl RenderDecision {
    pub fn skipped(why: impl Into<String>) -> Self {
        Self { rendered: false, why: why.into(), ms: None, added_images: 0, budget_ran_out: false }
    }
}

impl PageOutcome {
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed { .. } | Self::TooComplex { .. })
    }

    /// Why it failed, for the session's list of page errors.
    pub fn failure_reason(&self) -> Option<String> {
        match self {
            Self::Failed { reason } => Some(reason.clone()),
            Self::TooComplex { reason } => Some(format!("too complex: {reason}")),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// URLs waiting in the frontier.
    pub pages_queued: u64,
    /// Pages requested (network or cache), whatever came of them.
    pub pages_fetched: u64,
    pub pages_failed: u64,
    /// Not fetched: robots.txt, link traps.
    pub pages_skipped: u64,
    pub pages_from_cache: u64,
    /// Image records found on pages (before junk filtering and dedup).
    pub images_found: u64,
    /// New images: kept and not seen before in this crawl.
    pub images_kept: u64,
    /// Junk (by the extractor's reasons) and the images of `noindex` pages (`page_noindex`).
    pub images_rejected: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Images already kept from an earlier page.
    pub images_deduplicated: u64,
    /// Response bytes received (after decompression).
    pub bytes: u64,
    /// Sitemaps read only in part, or not at all, because the crawl's sitemap budget
    /// (`crawler.sitemap_urls_per_page` × its page limit) was spent.
    #[serde(default)]
    pub sitemaps_cut: u64,
    /// Pages rendered in the browser, and the time the browser spent on them.
    #[serde(default)]
    pub pages_rendered: u64,
    #[serde(default)]
    pub render_ms: u64,
    /// Images found only after rendering.
    #[serde(default)]
    pub images_from_render: u64,
    /// A crawl several replicas work on: pages given up after their lease lapsed
    /// `max_tries` times (each time the replica holding them died or stalled).
    #[serde(default)]
    pub pages_dead: u64,
    /// Pages fetched and parsed whose images may be kept (`ok` outcomes).
    #[serde(default)]
    pub pages_ok: u64,
}

impl Counters {
    /// Adds another worker's counts (a crawl that several replicas work on). The queue is the
    /// frontier's to say, not a sum.
    pub fn add(&mut self, other: &Counters) {
        self.pages_fetched += other.pages_fetched;
        self.pages_failed += other.pages_failed;
        self.pages_skipped += other.pages_skipped;
        self.pages_from_cache += other.pages_from_cache;
        self.images_found += other.images_found;
        self.images_kept += other.images_kept;
        self.images_rejected += other.images_rejected;
        for (reason, n) in &other.rejected_by_reason {
            *self.rejected_by_reason.entry(reason.clone()).or_insert(0) += n;
        }
        self.images_deduplicated += other.images_deduplicated;
        self.bytes += other.bytes;
        self.sitemaps_cut += other.sitemaps_cut;
        self.pages_rendered += other.pages_rendered;
        self.render_ms += other.render_ms;
        self.images_from_render += other.images_from_render;
        self.pages_dead += other.pages_dead;
        self.pages_ok += other.pages_ok;
    }

    pub(super) fn reject(&mut self, reason: &str) {
        self.images_rejected += 1;
        *self.rejected_by_reason.entry(reason.to_string()).or_insert(0) += 1;
    }
}

/// One fetched page, as `Crawler::run`'s callback sees it.
#[derive(Clone, Debug)]
pub struct PageReport {
    pub url: Url,
    pub final_url: Url,
    pub depth: u32,
    pub title: String,
    pub outcome: PageOutcome,
    /// Images new to this crawl.
    pub images: Vec<ImageRecord>,
}

/// One line of the crawl's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLog {
    pub url: String,
    pub depth: u32,
    pub outcome: PageOutcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every reachable page in scope was visited.
    Completed,
    /// The page limit was reached with pages still queued.
    PageLimit,
    Cancelled,
    /// The start URL was refused (scheme, SSRF guard, robots.txt).
    StartRefused,
    /// A crawl several replicas shared could not go on (its index store or its Redis stayed
    /// unreachable); the reason is in its page log.
    Aborted,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CrawlSummary {
    pub start_url: String,
    pub stop: StopReason,
    pub counters: Counters,
    /// Every URL that was fetched or deliberately skipped, in the order decided.
    pub pages: Vec<PageLog>,
    pub elapsed_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CrawlEvent {
    Progress { counters: Counters, current_url: String },
    Page { url: String, outcome: PageOutcome, images: usize },
    Finished { stop: StopReason, counters: Counters, elapsed_ms: u64 },
}
