//! The crawler: same-site breadth-first from a start URL, polite and bounded, extracting every
//! page's images as it goes.
//!
//! ```no_run
//! # async fn demo() {
//! use image_chat_core::crawl::Crawler;
//! let crawler = Crawler::new("https://example.org/".parse().unwrap()).max_pages(100).max_depth(3);
//! let mut progress = crawler.subscribe();
//! let summary = crawler.run(|page| println!("{} -> {} images", page.url, page.images.len())).await;
//! # }
//! ```

pub mod frontier;
mod html_cache;
pub mod normalize;
mod outcome;
mod page;
pub mod politeness;
mod render_step;
mod run;
pub mod sitemap;
mod traps;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use url::Url;

pub use outcome::{Counters, CrawlEvent, CrawlSummary, PageLog, PageOutcome, PageReport, RenderDecision, StopReason};
pub use run::distributed::{Commit, HostSlot, WorkerSummary};

use crate::cache::Cache;
use crate::config::CrawlerSettings;
use crate::net::Fetcher;
use crate::render::RenderMode;
use crate::timings::Clock;
use politeness::Hosts;

/// Longest URL followed; longer ones are recorded as link traps.
pub const MAX_URL_LEN: usize = 2_048;
/// Sitemap files read per crawl, indexes included.
pub const MAX_SITEMAPS: usize = 50;

#[derive(Clone, Debug)]
pub struct CrawlOptions {
    pub max_pages: u32,
    pub max_depth: u32,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub subdomains: bool,
    pub respect_robots: bool,
    pub use_sitemaps: bool,
    /// Sitemap URLs read at most per page of `max_pages`.
    pub sitemap_urls_per_page: u32,
    pub concurrency: usize,
    pub per_host_concurrency: usize,
    pub per_host_delay: Duration,
    pub allow_hosts: Vec<String>,
    pub fetch: crate::net::fetch::FetchConfig,
    /// How long a cached page is used without asking the site; `None`: as its Cache-Control
    /// says, else 24 h for dynamic-looking pages and 7 days for static ones.
    pub html_freshness: Option<Duration>,
    /// When pages are rendered in the browser (see [`Crawler::renderer`]).
    pub render: RenderMode,
}

impl CrawlOptions {
    pub fn from_settings(s: &CrawlerSettings) -> Self {
        Self {
            max_pages: s.max_pages,
            max_depth: s.max_depth,
            include: Vec::new(),
            exclude: Vec::new(),
            subdomains: false,
            respect_robots: s.respect_robots_txt,
            use_sitemaps: true,
            sitemap_urls_per_page: s.sitemap_urls_per_page,
            concurrency: s.concurrency,
            per_host_concurrency: s.per_host_concurrency,
            per_host_delay: Duration::from_millis(s.per_host_delay_ms),
            allow_hosts: s.allow_hosts.clone(),
            html_freshness: None,
            render: s.render,
            fetch: crate::net::FetchConfig::from_settings(s),
        }
    }
}

/// Stops a running crawl from elsewhere (the web app's cancel button).
#[derive(Clone)]
pub struct CancelHandle(Arc<watch::Sender<bool>>);

impl CancelHandle {
    /// Stops the crawl; a cancel sent before [`Crawler::run`] starts stops it before its first
    /// fetch.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the crawl is cancelled (at once when it already is).
    pub async fn cancelled(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }
}

pub struct Crawler {
    start: Url,
    opts: CrawlOptions,
    cache: Option<Arc<dyn Cache>>,
    /// The fetch seam; by default a reqwest fetcher built from the options.
    fetcher: Option<Arc<dyn Fetcher>>,
    /// The renderer (the fetch seam's browser implementation), or why there is none.
    renderer: Result<Arc<dyn Fetcher>, String>,
    events: broadcast::Sender<CrawlEvent>,
    cancel: Arc<watch::Sender<bool>>,
    /// Per-host request slots, shared with whatever else fetches for this crawl (the analysis
    /// of its images).
    hosts: Arc<Hosts>,
    clock: Arc<Clock>,
}

impl Crawler {
    /// A crawler with the default settings (see `Leptos.toml`).
    pub fn new(start: Url) -> Self {
        Self::with_options(start, CrawlOptions::from_settings(&CrawlerSettings::default()))
    }

    pub fn with_options(start: Url, opts: CrawlOptions) -> Self {
        let (events, _) = broadcast::channel(1024);
        let (cancel, _) = watch::channel(false);
        let renderer = Err("no browser was configured for this crawler".to_string());
        let hosts = Arc::new(Hosts::new(opts.per_host_concurrency, opts.per_host_delay));
        let clock = Arc::new(Clock::new());
        Self { start, opts, cache: None, fetcher: None, renderer, events, cancel: Arc::new(cancel), hosts, clock }
    }

    pub fn max_pages(mut self, n: u32) -> Self {
        self.opts.max_pages = n.max(1);
        self
    }

    pub fn max_depth(mut self, d: u32) -> Self {
        self.opts.max_depth = d;
        self
    }

    pub fn include(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.opts.include = patterns.into_iter().map(Into::into).collect();
        self
    }

    pub fn exclude(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.opts.exclude = patterns.into_iter().map(Into::into).collect();
        self
    }

    pub fn subdomains(mut self, on: bool) -> Self {
        self.opts.subdomains = on;
        self
    }

    pub fn respect_robots(mut self, on: bool) -> Self {
        self.opts.respect_robots = on;
        self
    }

    pub fn use_sitemaps(mut self, on: bool) -> Self {
        self.opts.use_sitemaps = on;
        self
    }

    pub fn concurrency(mut self, n: usize) -> Self {
        self.opts.concurrency = n.max(1);
        self
    }

    pub fn per_host(mut self, concurrency: usize, delay: Duration) -> Self {
        self.opts.per_host_concurrency = concurrency.max(1);
        self.opts.per_host_delay = delay;
        self.hosts = Arc::new(Hosts::new(self.opts.per_host_concurrency, delay));
        self
    }

    /// Hosts the SSRF guard lets through although they are loopback or private.
    pub fn allow_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.opts.allow_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    pub fn fetch_config(mut self, f: impl FnOnce(&mut crate::net::fetch::FetchConfig)) -> Self {
        f(&mut self.opts.fetch);
        self
    }

    /// Cached pages are used this long without asking the site (then revalidated when they
    /// carry an ETag or Last-Modified).
    pub fn html_freshness(mut self, fresh: Duration) -> Self {
        self.opts.html_freshness = Some(fresh);
        self
    }

    /// Pages, sitemaps and robots.txt are fetched through this fetcher (the composition root's),
    /// instead of one built from the options.
    pub fn fetcher(mut self, fetcher: Arc<dyn Fetcher>) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    /// Renders pages through `renderer` as the render mode says; `Err(why)` when the browser is
    /// unavailable (then `auto` renders nothing and says why on each page).
    pub fn renderer(mut self, renderer: Result<Arc<dyn Fetcher>, String>) -> Self {
        self.renderer = renderer;
        self
    }

    pub fn render(mut self, mode: RenderMode) -> Self {
        self.opts.render = mode;
        self
    }

    /// Fetched HTML goes through this cache (keyed by normalized URL).
    pub fn cache(mut self, cache: Arc<dyn Cache>) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn options(&self) -> &CrawlOptions {
        &self.opts
    }

    /// Progress events of the run; subscribe before [`Crawler::run`].
    pub fn subscribe(&self) -> broadcast::Receiver<CrawlEvent> {
        self.events.subscribe()
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    /// This crawl's per-host request slots: whatever else fetches from the crawled hosts for
    /// this crawl takes its slots here, so the per-host limits hold for all of it together.
    pub fn hosts(&self) -> Arc<Hosts> {
        self.hosts.clone()
    }

    /// This crawl's pipeline clock (see [`crate::timings`]); the stages after the crawl record
    /// on it too.
    pub fn clock(&self) -> Arc<Clock> {
        self.clock.clone()
    }

    /// Crawls until the frontier is empty, the page limit is reached or the crawl is cancelled.
    /// `on_page` sees every fetched page with the images that are new to this crawl.
    pub async fn run(self, on_page: impl FnMut(PageReport) + Send) -> CrawlSummary {
        run::Run::new(self).execute(on_page).await
    }

    /// How this crawl's frontier hands out work when replicas share it: each host's limits
    /// and the page limit as the options say, leases of `lease`.
    pub fn frontier_options(&self, lease: Duration) -> frontier::FrontierOptions {
        frontier::FrontierOptions {
            lease,
            per_host: self.opts.per_host_concurrency,
            delay: self.opts.per_host_delay,
            max_tries: frontier::MAX_TRIES,
            max_pages: u64::from(self.opts.max_pages),
        }
    }

    /// Starts a crawl that replicas share through `frontier` and follows it to its end (the
    /// workers, this replica's included, are started apart: [`Crawler::work`]). The summary's
    /// counters are every worker's summed; its page log holds the failures they reported.
    pub async fn coordinate(self, frontier: Arc<frontier::RedisFrontier>) -> CrawlSummary {
        run::Run::new(self).coordinate(frontier).await
    }

    /// Works on a crawl that replicas share: claims pages from `frontier`, fetches and extracts
    /// them, queues their links, and acknowledges each once `commit` stored it. Returns when
    /// the crawl ended (or the replica that started it is gone, or this crawler is cancelled).
    pub async fn work(self, frontier: Arc<frontier::RedisFrontier>, commit: Commit) -> WorkerSummary {
        run::Run::new(self).work(frontier, commit).await
    }
}
