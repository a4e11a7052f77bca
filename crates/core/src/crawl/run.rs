//! One crawl run: the frontier and the scheduling loop — robots.txt before each host, sitemaps
//! beside the links, politeness, link traps, the images new to the crawl — over the page tasks it
//! spawns (`page`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use url::Url;

use super::normalize::{Scope, fetch_url, page_key};
use super::outcome::{Counters, CrawlEvent, CrawlSummary, PageLog, PageOutcome, PageReport, StopReason};
use super::page::{Shared, TaskResult, crawl_page};
use super::render_step::RenderState;
use super::traps::link_trap;
use super::{CrawlOptions, Crawler, sitemap};
use crate::extract::variants;
use crate::net::guard::Guard;
use crate::net::robots::Robots;
use crate::net::{Fetcher, HttpFetcher, RobotsCache};

pub(super) mod distributed;

/// Reject reason of the content images of a page that asks not to be indexed.
pub const PAGE_NOINDEX: &str = "page_noindex";
/// Skipped URLs recorded per crawl beyond the fetched ones (a page can link thousands of
/// forbidden URLs).
const MAX_SKIP_LOGS: usize = 10_000;

pub(super) struct Run {
    start: Url,
    opts: CrawlOptions,
    events: broadcast::Sender<CrawlEvent>,
    cancel: watch::Receiver<bool>,
    /// Kept so `cancel` stays open (and pending) when no `CancelHandle` exists.
    _cancel_tx: Arc<watch::Sender<bool>>,
    shared: Option<Arc<Shared>>,
    setup_error: Option<String>,
    fetched_keys: HashSet<String>,
    links: VecDeque<(Url, u32)>,
    sitemap_urls: VecDeque<Url>,
    /// Each picture kept so far (by identity), with the largest width known of it.
    image_keys: HashMap<String, u32>,
    counters: Counters,
    pages: Vec<PageLog>,
    skip_logs: usize,
    started: Instant,
}

/// Resolves once the crawl is cancelled; no borrow of the flag outlives it (a held one would
/// block the cancel button's send while a page is handled).
async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    let _ = cancel.wait_for(|c| *c).await;
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

impl Run {
    pub(super) fn new(crawler: Crawler) -> Self {
        let Crawler { start, opts, cache, fetcher, renderer, events, cancel, hosts, clock } = crawler;
        let fetcher = match fetcher {
            Some(f) => Ok(f),
            None => HttpFetcher::new(opts.fetch.clone(), Guard::new(&opts.allow_hosts))
                .map(|f| Arc::new(f) as Arc<dyn Fetcher>),
        };
        let (shared, setup_error) = match fetcher {
            Ok(fetcher) => (
                Some(Arc::new(Shared {
                    robots: RobotsCache::new(fetcher.clone()),
                    fetcher,
                    hosts,
                    clock,
                    cache,
                    scope: Scope::new(&start, opts.subdomains, &opts.include, &opts.exclude),
                    respect_robots: opts.respect_robots,
                    seen: Mutex::new(HashSet::new()),
                    sitemaps_cut: Default::default(),
                    stop: Default::default(),
                    html_freshness: opts.html_freshness,
                    queue_redirects: Default::default(),
                    render: RenderState {
                        mode: opts.render,
                        unavailable: renderer.as_ref().err().cloned(),
                        renderer: renderer.ok(),
                        learning: Default::default(),
                    },
                })),
                None,
            ),
            Err(e) => (None, Some(e)),
        };
        Self {
            start,
            opts,
            events,
            cancel: cancel.subscribe(),
            _cancel_tx: cancel,
            shared,
            setup_error,
            fetched_keys: HashSet::new(),
            links: VecDeque::new(),
            sitemap_urls: VecDeque::new(),
            image_keys: HashMap::new(),
            counters: Counters::default(),
            pages: Vec::new(),
            skip_logs: 0,
            started: Instant::now(),
        }
    }

    fn finish(self, stop: StopReason) -> CrawlSummary {
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        let _ = self.events.send(CrawlEvent::Finished { stop, counters: self.counters.clone(), elapsed_ms });
        CrawlSummary { start_url: self.start.to_string(), stop, counters: self.counters, pages: self.pages, elapsed_ms }
    }

    /// Records a URL that is not fetched (robots.txt, link trap); the log of these is capped.
    fn skip(&mut self, url: &Url, depth: u32, outcome: PageOutcome) {
        self.counters.pages_skipped += 1;
        if self.skip_logs < MAX_SKIP_LOGS {
            self.skip_logs += 1;
            self.log(url, depth, outcome);
        }
    }

    fn log(&mut self, url: &Url, depth: u32, outcome: PageOutcome) {
        let _ = self.events.send(CrawlEvent::Page { url: url.to_string(), outcome: outcome.clone(), images: 0 });
        self.pages.push(PageLog { url: url.to_string(), depth, outcome });
    }

    /// The checks before the first fetch: a fetcher, a start URL the guard and robots.txt
    /// allow (the start page is marked seen). `Err` is how the crawl stops instead.
    async fn begin(&mut self) -> Result<(Arc<Shared>, Url, Arc<Robots>), StopReason> {
        let Some(shared) = self.shared.clone() else {
            let reason = self.setup_error.take().unwrap_or_default();
            let start = self.start.clone();
            self.log(&start, 0, PageOutcome::Failed { reason });
            return Err(StopReason::StartRefused);
        };
        let start = fetch_url(&self.start);
        if self.is_cancelled() {
            return Err(StopReason::Cancelled);
        }
        if let Err(refusal) = shared.fetcher.guard().check_url(&start) {
            self.log(&start, 0, PageOutcome::Failed { reason: format!("refused: {refusal}") });
            self.counters.pages_failed += 1;
            return Err(StopReason::StartRefused);
        }
        let robots = self.robots_for(&shared, &start).await;
        if self.is_cancelled() {
            return Err(StopReason::Cancelled);
        }
        if !robots.allowed(start.as_str()) {
            self.log(&start, 0, robots_refusal(&robots));
            return Err(StopReason::StartRefused);
        }
        if let Some(key) = page_key(&start) {
            shared.mark_seen(key);
        }
        Ok((shared, start, robots))
    }

    /// Starts reading the sitemaps robots.txt lists (or the usual place), within the crawl's
    /// sitemap budget; their URLs come on the receiver, which closes when they are read.
    fn sitemaps(
        &self,
        shared: &Arc<Shared>,
        start: &Url,
        robots: &Robots,
    ) -> (Option<JoinHandle<()>>, mpsc::Receiver<Vec<Url>>) {
        let (sitemap_tx, sitemap_rx) = mpsc::channel::<Vec<Url>>(16);
        if !self.opts.use_sitemaps || self.opts.max_depth == 0 {
            return (None, sitemap_rx);
        }
        let listed: Vec<String> = robots.sitemaps().to_vec();
        let budget = self.opts.max_pages as usize * self.opts.sitemap_urls_per_page.max(1) as usize;
        let discover = sitemap::discover(shared.clone(), start.clone(), listed, budget, sitemap_tx);
        (Some(tokio::spawn(discover)), sitemap_rx)
    }

    pub(super) async fn execute(mut self, mut on_page: impl FnMut(PageReport) + Send) -> CrawlSummary {
        let (shared, start, robots) = match self.begin().await {
            Ok(begun) => begun,
            Err(stop) => return self.finish(stop),
        };
        self.links.push_back((start.clone(), 0));
        let (sitemap_task, mut sitemap_rx) = self.sitemaps(&shared, &start, &robots);
        let mut sitemaps_open = sitemap_task.is_some();

        let mut tasks: JoinSet<TaskResult> = JoinSet::new();
        let mut scheduled: u32 = 0;
        let mut cancel = self.cancel.clone();
        let stop = loop {
            if self.is_cancelled() {
                tasks.abort_all();
                break StopReason::Cancelled;
            }
            // Schedule while there is room: links first (breadth-first), then sitemap-only URLs.
            while tasks.len() < self.opts.concurrency && scheduled < self.opts.max_pages {
                let Some((url, depth)) =
                    self.links.pop_front().or_else(|| self.sitemap_urls.pop_front().map(|u| (u, 1)))
                else {
                    break;
                };
                if self.opts.respect_robots {
                    let robots = self.robots_for(&shared, &url).await;
                    if !robots.allowed(url.as_str()) {
                        self.skip(&url, depth, robots_refusal(&robots));
                        continue;
                    }
                }
                scheduled += 1;
                self.counters.pages_fetched += 1;
                tasks.spawn(crawl_page(shared.clone(), url, depth));
            }
            self.counters.pages_queued = (self.links.len() + self.sitemap_urls.len()) as u64;
            let idle = tasks.is_empty();
            if idle && (!sitemaps_open || scheduled >= self.opts.max_pages) {
                let more = !self.links.is_empty() || !self.sitemap_urls.is_empty();
                break if scheduled >= self.opts.max_pages && more {
                    StopReason::PageLimit
                } else {
                    StopReason::Completed
                };
            }
            tokio::select! {
                Some(done) = tasks.join_next(), if !idle => match done {
                    Ok(result) => self.handle(result, &shared, &mut on_page),
                    Err(e) => tracing::error!("a page task failed: {e}"),
                },
                urls = sitemap_rx.recv(), if sitemaps_open => match urls {
                    Some(urls) => self.add_sitemap_urls(&shared, urls),
                    None => sitemaps_open = false,
                },
                // `wait_for` sees a cancel sent before this run subscribed, which `changed` would
                // not: a crawl cancelled as it started must not run to its page limit.
                () = cancelled(&mut cancel) => {
                    tasks.abort_all();
                    break StopReason::Cancelled;
                }
            }
        };
        if let Some(task) = sitemap_task {
            task.abort();
        }
        // Pages still being parsed stop between chunks.
        shared.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.counters.sitemaps_cut = shared.sitemaps_cut.load(std::sync::atomic::Ordering::Relaxed);
        self.counters.pages_queued = (self.links.len() + self.sitemap_urls.len()) as u64;
        self.finish(stop)
    }

    fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// The robots.txt of `url`'s origin, fetched once per origin.
    async fn robots_for(&mut self, shared: &Shared, url: &Url) -> Arc<Robots> {
        if !self.opts.respect_robots {
            return Arc::new(Robots::AllowAll);
        }
        let (robots, fetched) = shared.robots.for_url(url).await;
        if fetched {
            if let (Some(delay), Some(host)) = (robots.crawl_delay(), url.host_str()) {
                shared.hosts.set_crawl_delay(host, delay);
            }
            if let Robots::DisallowAll(reason) = &*robots {
                tracing::warn!("robots.txt of {} unavailable ({reason}); not crawling that host", origin(url));
            }
        }
        robots
    }

    fn add_sitemap_urls(&mut self, shared: &Shared, urls: Vec<Url>) {
        for url in urls {
            let url = fetch_url(&url);
            if !shared.scope.same_site(&url) || !shared.scope.wanted(&url) {
                continue;
            }
            if page_key(&url).is_some_and(|key| shared.mark_seen(key)) {
                self.sitemap_urls.push_back(url);
            }
        }
    }

    fn handle(&mut self, done: TaskResult, shared: &Shared, on_page: &mut impl FnMut(PageReport)) {
        let TaskResult { url, depth, result } = done;
        let fetched = match result {
            Err(outcome) => {
                if outcome.is_failure() {
                    self.counters.pages_failed += 1;
                }
                self.log(&url, depth, outcome);
                self.progress(&url);
                return;
            }
            Ok(f) => f,
        };
        self.counters.bytes += fetched.bytes;
        if fetched.from_cache {
            self.counters.pages_from_cache += 1;
        }
        let page = fetched.page;
        let final_key = page_key(&fetched.final_url);
        if let Some(k) = &final_key {
            shared.mark_seen(k.clone());
        }
        let canonical_key = page
            .canonical
            .as_ref()
            .filter(|c| shared.scope.same_site(c))
            .and_then(page_key)
            .filter(|c| Some(c) != final_key.as_ref());
        if let Some(r) = fetched.render.as_ref().filter(|r| r.rendered) {
            self.counters.pages_rendered += 1;
            self.counters.render_ms += r.ms.unwrap_or(0);
        }
        let mut outcome =
            PageOutcome::Ok { status: fetched.status, from_cache: fetched.from_cache, render: fetched.render };
        if let Some(c) = &canonical_key {
            if self.fetched_keys.contains(c) {
                outcome = PageOutcome::Duplicate { canonical: c.clone() };
            } else {
                self.fetched_keys.insert(c.clone());
                shared.mark_seen(c.clone());
            }
        }
        if let Some(k) = final_key {
            self.fetched_keys.insert(k);
        }
        if matches!(outcome, PageOutcome::Ok { .. }) {
            if page.robots.noindex {
                outcome = PageOutcome::NoIndex;
            } else {
                self.counters.pages_ok += 1;
            }
        }

        let mut new_images = Vec::new();
        if matches!(outcome, PageOutcome::Ok { .. } | PageOutcome::NoIndex) {
            self.counters.images_found += (page.images.len() + page.rejected.len()) as u64;
            for r in &page.rejected {
                self.counters.reject(r.reason.as_str());
            }
        }
        if matches!(outcome, PageOutcome::NoIndex) {
            for _ in &page.images {
                self.counters.reject(PAGE_NOINDEX);
            }
        } else if matches!(outcome, PageOutcome::Ok { .. }) {
            for image in page.images {
                // A list's thumbnail seen first, the article's full-size picture later: the larger
                // sighting is kept too (with its own page's words), and search shows the larger
                // of the two copies.
                let key = variants::identity_key(&image.url);
                let width = known_width(&image);
                if self.image_keys.get(&key).is_none_or(|seen| width > *seen) {
                    self.image_keys.insert(key, width);
                    self.counters.images_kept += 1;
                    if image.found_by == crate::model::FoundBy::Render {
                        self.counters.images_from_render += 1;
                    }
                    new_images.push(image);
                } else {
                    self.counters.images_deduplicated += 1;
                }
            }
        }
        if !page.robots.nofollow && !matches!(outcome, PageOutcome::Duplicate { .. }) {
            self.follow_links(shared, &page.links, depth);
        }
        let images = new_images.len();
        self.pages.push(PageLog { url: url.to_string(), depth, outcome: outcome.clone() });
        let _ = self.events.send(CrawlEvent::Page { url: url.to_string(), outcome: outcome.clone(), images });
        on_page(PageReport {
            url: url.clone(),
            final_url: fetched.final_url,
            depth,
            title: page.title,
            outcome,
            images: new_images,
        });
        self.progress(&url);
    }

    fn follow_links(&mut self, shared: &Shared, links: &[Url], depth: u32) {
        if depth >= self.opts.max_depth {
            return;
        }
        for link in links {
            let link = fetch_url(link);
            if !shared.scope.same_site(&link) || !shared.scope.wanted(&link) {
                continue;
            }
            let Some(key) = page_key(&link) else { continue };
            if !shared.mark_seen(key) {
                continue;
            }
            if let Some(reason) = link_trap(&link) {
                self.skip(&link, depth + 1, PageOutcome::LinkTrap { reason });
                continue;
            }
            self.links.push_back((link, depth + 1));
        }
    }

    fn progress(&mut self, current: &Url) {
        self.counters.pages_queued = (self.links.len() + self.sitemap_urls.len()) as u64;
        let _ = self
            .events
            .send(CrawlEvent::Progress { counters: self.counters.clone(), current_url: current.to_string() });
    }
}

/// The outcome of a URL robots.txt keeps us from: skipped when the rules say so, failed (with the
/// reason) when robots.txt itself could not be had, as the host is then not crawled at all.
fn robots_refusal(robots: &Robots) -> PageOutcome {
    match robots {
        Robots::DisallowAll(reason) => {
            PageOutcome::Failed { reason: format!("robots.txt unavailable ({reason}); host not crawled") }
        }
        _ => PageOutcome::SkippedByRobots,
    }
}

/// The largest width a sighting of an image tells (its variants' `w` descriptors and file-name
/// sizes, or the declared width); 0 when none does.
fn known_width(image: &crate::extract::ImageRecord) -> u32 {
    let declared = image.context.declared_width.unwrap_or(0);
    image.variants.iter().filter_map(|v| v.width).max().unwrap_or(0).max(declared)
}
