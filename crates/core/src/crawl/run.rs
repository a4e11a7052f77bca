//! One crawl run: the frontier, the scheduling loop, and the page tasks it spawns.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use url::Url;

use super::normalize::{Scope, fetch_url, page_key};
use super::outcome::{Counters, CrawlEvent, CrawlSummary, PageLog, PageOutcome, PageReport, StopReason};
use super::politeness::Hosts;
use super::{CrawlOptions, Crawler, MAX_SITEMAPS, MAX_URL_LEN, sitemap};
use crate::cache::Cache;
use crate::extract::{self, PageImages, variants};
use crate::net::guard::Guard;
use crate::net::robots::Robots;
use crate::net::{Fetched, Fetcher, HttpFetcher, RobotsCache, Validators, Want};

const HTML_CACHE_PREFIX: &str = "html:v2:";
/// Reject reason of the content images of a page that asks not to be indexed.
pub const PAGE_NOINDEX: &str = "page_noindex";
const STATIC_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const DYNAMIC_TTL: Duration = Duration::from_secs(24 * 3600);
/// A page with an ETag or Last-Modified is kept this much longer than it is fresh: once stale,
/// it is revalidated with a conditional request, and a 304 costs no body and no re-download.
const REVALIDATE_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Bounds on a `Cache-Control: max-age` the site names.
const MIN_FRESH: Duration = Duration::from_secs(60);
/// Skipped URLs recorded per crawl beyond the fetched ones (a page can link thousands of
/// forbidden URLs).
const MAX_SKIP_LOGS: usize = 10_000;

/// A page as the HTML cache keeps it; without a body it records a redirect to `final_url`.
/// Stored as `P<fresh until>\t<etag>\t<last-modified>\t<final url>\n<body>` or `R<final url>`:
/// no escaping (validators never hold tabs or newlines), no copy of the body on read.
/// `G<reason>` records a page that is gone (404, 410), as HTTP caches do, for a shorter time.
struct CachedPage {
    final_url: String,
    body: Option<String>,
    /// Unix seconds until which the page is used without asking the site.
    fresh_until: u64,
    validators: Validators,
}

/// How long a 404 or 410 is remembered: long enough for a repeat crawl, short enough that a
/// page that comes back is found again.
const GONE_TTL: Duration = Duration::from_secs(3600);

fn gone_reason(bytes: &[u8]) -> Option<String> {
    bytes.strip_prefix(b"G").and_then(|r| std::str::from_utf8(r).ok()).map(str::to_string)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl CachedPage {
    fn redirect(to: &Url) -> Self {
        Self { final_url: to.to_string(), body: None, fresh_until: u64::MAX, validators: Validators::default() }
    }

    fn encode(&self) -> Vec<u8> {
        let Some(body) = &self.body else {
            return [b"R".as_slice(), self.final_url.as_bytes()].concat();
        };
        let v = &self.validators;
        let head = format!(
            "P{}\t{}\t{}\t{}\n",
            self.fresh_until,
            v.etag.as_deref().unwrap_or(""),
            v.last_modified.as_deref().unwrap_or(""),
            self.final_url
        );
        let mut out = Vec::with_capacity(head.len() + body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(body.as_bytes());
        out
    }

    fn decode(mut bytes: Vec<u8>) -> Option<Self> {
        let kind = *bytes.first()?;
        match kind {
            b'R' => Some(Self {
                final_url: String::from_utf8(bytes.split_off(1)).ok()?,
                body: None,
                fresh_until: u64::MAX,
                validators: Validators::default(),
            }),
            b'P' => {
                let newline = bytes.iter().position(|&b| b == b'\n')?;
                let body = String::from_utf8(bytes.split_off(newline + 1)).ok()?;
                let head = std::str::from_utf8(&bytes[1..newline]).ok()?;
                let mut fields = head.splitn(4, '\t');
                let fresh_until = fields.next()?.parse().ok()?;
                let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
                let etag = text(fields.next()?);
                let last_modified = text(fields.next()?);
                let final_url = fields.next()?.to_string();
                Some(Self { final_url, body: Some(body), fresh_until, validators: Validators { etag, last_modified } })
            }
            _ => None,
        }
    }
}

/// How long a page is fresh, and how long it is kept (longer when it can be revalidated).
fn lifetimes(
    override_fresh: Option<Duration>,
    cache_control: &str,
    dynamic: bool,
    validators: &Validators,
) -> (Duration, Duration) {
    let max_age = cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim_matches('"').parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(|s| Duration::from_secs(s).clamp(MIN_FRESH, STATIC_TTL));
    let fresh = override_fresh.or(max_age).unwrap_or(if dynamic { DYNAMIC_TTL } else { STATIC_TTL });
    let keep = if validators.is_empty() { fresh } else { fresh + REVALIDATE_FOR };
    (fresh, keep.max(Duration::from_secs(1)))
}

/// What page tasks share.
struct Shared {
    fetcher: Arc<dyn Fetcher>,
    hosts: Hosts,
    cache: Option<Arc<dyn Cache>>,
    scope: Scope,
    robots: RobotsCache,
    respect_robots: bool,
    /// Keys of every page queued or fetched: shared so a redirect never fetches a page twice.
    seen: Mutex<HashSet<String>>,
    /// Overrides how long cached pages are fresh (tests; otherwise Cache-Control decides).
    html_freshness: Option<Duration>,
}

impl Shared {
    /// Marks a page key seen; true when it was new.
    fn mark_seen(&self, key: String) -> bool {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key)
    }

    /// May a redirect go to `next`? Same site, not yet seen, and not forbidden by a robots.txt
    /// already read.
    fn may_follow(&self, next: &Url) -> bool {
        if !self.scope.same_site(next) || !self.scope.wanted(next) || !page_key(next).is_some_and(|k| self.mark_seen(k))
        {
            return false;
        }
        if !self.respect_robots {
            return true;
        }
        self.robots.known(next).is_none_or(|r| r.allowed(next.as_str()))
    }
}

struct Fetchd {
    final_url: Url,
    status: u16,
    from_cache: bool,
    bytes: u64,
    page: PageImages,
}

struct TaskResult {
    url: Url,
    depth: u32,
    result: Result<Fetchd, PageOutcome>,
}

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
        let Crawler { start, opts, cache, fetcher, events, cancel } = crawler;
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
                    hosts: Hosts::new(opts.per_host_concurrency, opts.per_host_delay),
                    cache,
                    scope: Scope::new(&start, opts.subdomains, &opts.include, &opts.exclude),
                    respect_robots: opts.respect_robots,
                    seen: Mutex::new(HashSet::new()),
                    html_freshness: opts.html_freshness,
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

    pub(super) async fn execute(mut self, mut on_page: impl FnMut(PageReport) + Send) -> CrawlSummary {
        let Some(shared) = self.shared.clone() else {
            let reason = self.setup_error.take().unwrap_or_default();
            let start = self.start.clone();
            self.log(&start, 0, PageOutcome::Failed { reason });
            return self.finish(StopReason::StartRefused);
        };
        let start = fetch_url(&self.start);
        if self.is_cancelled() {
            return self.finish(StopReason::Cancelled);
        }
        if let Err(refusal) = shared.fetcher.guard().check_url(&start) {
            self.log(&start, 0, PageOutcome::Failed { reason: format!("refused: {refusal}") });
            self.counters.pages_failed += 1;
            return self.finish(StopReason::StartRefused);
        }
        let robots = self.robots_for(&shared, &start).await;
        if self.is_cancelled() {
            return self.finish(StopReason::Cancelled);
        }
        if !robots.allowed(start.as_str()) {
            self.log(&start, 0, robots_refusal(&robots));
            return self.finish(StopReason::StartRefused);
        }
        if let Some(key) = page_key(&start) {
            shared.mark_seen(key);
        }
        self.links.push_back((start.clone(), 0));

        let (sitemap_tx, mut sitemap_rx) = mpsc::channel::<Vec<Url>>(16);
        let mut sitemap_task = None;
        if self.opts.use_sitemaps && self.opts.max_depth > 0 {
            let listed: Vec<String> = robots.sitemaps().to_vec();
            sitemap_task = Some(tokio::spawn(discover_sitemaps(shared.clone(), start.clone(), listed, sitemap_tx)));
        } else {
            drop(sitemap_tx);
        }
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
        let mut outcome = PageOutcome::Ok { status: fetched.status, from_cache: fetched.from_cache };
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
        if matches!(outcome, PageOutcome::Ok { .. }) && page.robots.noindex {
            outcome = PageOutcome::NoIndex;
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

/// Why a URL looks like an endless generator of pages, if it does.
fn link_trap(url: &Url) -> Option<String> {
    if url.as_str().len() > MAX_URL_LEN {
        return Some(format!("URL longer than {MAX_URL_LEN} characters"));
    }
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    if segments.len() > 30 {
        return Some("path deeper than 30 segments".into());
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in &segments {
        let n = counts.entry(s).or_insert(0);
        *n += 1;
        if *n >= 4 {
            return Some(format!("path segment `{s}` repeats"));
        }
    }
    None
}

async fn crawl_page(shared: Arc<Shared>, url: Url, depth: u32) -> TaskResult {
    let result = fetch_and_extract(&shared, &url).await;
    TaskResult { url, depth, result }
}

fn cache_key(url: &Url) -> Option<String> {
    page_key(url).map(|k| format!("{HTML_CACHE_PREFIX}{k}"))
}

async fn cache_get(shared: &Shared, url: &Url) -> Option<Result<CachedPage, String>> {
    let cache = shared.cache.as_ref()?;
    let bytes = cache.get(&cache_key(url)?).await?;
    match gone_reason(&bytes) {
        Some(reason) => Some(Err(reason)),
        None => CachedPage::decode(bytes).map(Ok),
    }
}

async fn cache_put(shared: &Shared, urls: &[&Url], page: &CachedPage, ttl: Duration) {
    let Some(cache) = &shared.cache else { return };
    let bytes = page.encode();
    let mut keys: Vec<String> = urls.iter().filter_map(|u| cache_key(u)).collect();
    keys.dedup();
    for key in keys {
        cache.set(&key, bytes.clone(), ttl).await;
    }
}

async fn fetch_and_extract(shared: &Shared, url: &Url) -> Result<Fetchd, PageOutcome> {
    let hit = match cache_get(shared, url).await {
        Some(Err(reason)) => return Err(PageOutcome::Failed { reason: format!("{reason} (cached)") }),
        Some(Ok(hit)) => Some(hit),
        None => None,
    };
    if let Some(hit) = hit
        && let Ok(final_url) = Url::parse(&hit.final_url)
    {
        match hit.body {
            Some(_) if hit.fresh_until > unix_now() => {
                return from_cache(hit.body.unwrap_or_default(), final_url).await;
            }
            // Stale, but the site can tell whether it changed.
            Some(_) if !hit.validators.is_empty() => return fetch_network(shared, url, Some(hit)).await,
            Some(_) => {}
            // A cached redirect: follow it as the network would, through the cache if it can.
            None if !shared.may_follow(&final_url) => {
                return Err(PageOutcome::Redirected { to: final_url.to_string() });
            }
            None => {
                if let Some(Ok(target @ CachedPage { body: Some(_), .. })) = cache_get(shared, &final_url).await {
                    if target.fresh_until > unix_now() {
                        return from_cache(target.body.unwrap_or_default(), final_url).await;
                    }
                    if !target.validators.is_empty() {
                        return fetch_network(shared, &final_url, Some(target)).await;
                    }
                }
                return fetch_network(shared, &final_url, None).await;
            }
        }
    }
    fetch_network(shared, url, None).await
}

async fn from_cache(body: String, final_url: Url) -> Result<Fetchd, PageOutcome> {
    let bytes = body.len() as u64;
    let page = extract_blocking(body, final_url.clone()).await?;
    Ok(Fetchd { final_url, status: 200, from_cache: true, bytes, page })
}

/// Fetches a page; with a stale cached copy, asks only whether it changed (a 304 serves the copy).
async fn fetch_network(shared: &Shared, url: &Url, stale: Option<CachedPage>) -> Result<Fetchd, PageOutcome> {
    let host = url.host_str().unwrap_or("").to_string();
    let validators = stale.as_ref().map(|p| p.validators.clone()).unwrap_or_default();
    let permit = shared.hosts.acquire(&host).await;
    let fetched = shared.fetcher.fetch(url, Want::Html, &|next| shared.may_follow(next), &validators).await;
    drop(permit);
    let body = match fetched {
        Fetched::Body(body) => body,
        Fetched::NotModified { cache_control, .. } => {
            let Some(mut page) = stale else {
                return Err(PageOutcome::Failed { reason: "HTTP 304 to an unconditional request".into() });
            };
            let (fresh, keep) =
                lifetimes(shared.html_freshness, cache_control.as_deref().unwrap_or(""), false, &page.validators);
            page.fresh_until = unix_now() + fresh.as_secs();
            cache_put(shared, &[url], &page, keep).await;
            let final_url = Url::parse(&page.final_url).unwrap_or_else(|_| url.clone());
            return from_cache(page.body.unwrap_or_default(), final_url).await;
        }
        Fetched::NotHtml { content_type, .. } => return Err(PageOutcome::NotHtml { content_type }),
        Fetched::Redirected { to } => {
            cache_put(shared, &[url], &CachedPage::redirect(&to), DYNAMIC_TTL).await;
            return Err(PageOutcome::Redirected { to: to.to_string() });
        }
        Fetched::Failed(e) => {
            let reason = e.to_string();
            if e.is_gone()
                && let (Some(cache), Some(key)) = (&shared.cache, cache_key(url))
            {
                cache.set(&key, format!("G{reason}").into_bytes(), GONE_TTL).await;
            }
            return Err(PageOutcome::Failed { reason });
        }
    };
    let cc = body.cache_control.as_deref().unwrap_or("");
    if !cc.contains("no-store") {
        let dynamic = url.query().is_some()
            || body.sets_cookie
            || cc.contains("no-cache")
            || cc.contains("private")
            || cc.contains("max-age=0");
        let (fresh, keep) = lifetimes(shared.html_freshness, cc, dynamic, &body.validators);
        let entry = CachedPage {
            final_url: body.final_url.to_string(),
            body: Some(body.text.clone()),
            // `no-cache`: keep it, but ask every time (a 304 is still cheap).
            fresh_until: if cc.contains("no-cache") { 0 } else { unix_now() + fresh.as_secs() },
            validators: body.validators.clone(),
        };
        // Under every URL of the redirect chain, so a later crawl finds the page however it
        // reaches it.
        let mut urls: Vec<&Url> = vec![url, &body.final_url];
        urls.extend(body.redirects.iter());
        cache_put(shared, &urls, &entry, keep).await;
    }
    let page = extract_blocking(body.text, body.final_url.clone()).await?;
    Ok(Fetchd { final_url: body.final_url, status: body.status, from_cache: false, bytes: body.bytes, page })
}

async fn extract_blocking(html: String, url: Url) -> Result<PageImages, PageOutcome> {
    tokio::task::spawn_blocking(move || extract::extract(&html, &url))
        .await
        .map_err(|e| PageOutcome::Failed { reason: format!("extraction failed: {e}") })
}

/// Reads the sitemaps robots.txt names (or `/sitemap.xml`), following indexes, and sends the
/// page URLs to the crawl as they arrive.
async fn discover_sitemaps(shared: Arc<Shared>, start: Url, listed: Vec<String>, tx: mpsc::Sender<Vec<Url>>) {
    let mut queue: VecDeque<Url> =
        listed.iter().filter_map(|s| start.join(s).ok()).filter(|u| shared.scope.same_site(u)).collect();
    if queue.is_empty() {
        queue.push_back(start.join("/sitemap.xml").expect("joins any http(s) URL"));
    }
    let mut read = 0;
    let mut visited = HashSet::new();
    while let Some(url) = queue.pop_front() {
        if read >= MAX_SITEMAPS || !visited.insert(url.to_string()) {
            continue;
        }
        read += 1;
        let host = url.host_str().unwrap_or("").to_string();
        let permit = shared.hosts.acquire(&host).await;
        let fetched = shared.fetcher.get(&url, Want::Any, &|n| shared.scope.same_site(n)).await;
        drop(permit);
        let Fetched::Body(body) = fetched else { continue };
        let parsed = sitemap::parse(&body.raw);
        queue.extend(parsed.children.iter().filter_map(|c| url.join(c).ok()).filter(|u| shared.scope.same_site(u)));
        let pages: Vec<Url> = parsed.pages.iter().filter_map(|p| url.join(p).ok()).collect();
        if !pages.is_empty() && tx.send(pages).await.is_err() {
            return;
        }
    }
}

/// The largest width a sighting of an image tells (its variants' `w` descriptors and file-name
/// sizes, or the declared width); 0 when none does.
fn known_width(image: &crate::extract::ImageRecord) -> u32 {
    let declared = image.context.declared_width.unwrap_or(0);
    image.variants.iter().filter_map(|v| v.width).max().unwrap_or(0).max(declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_pages_round_trip() {
        let validators = Validators { etag: Some("\"abc\"".into()), last_modified: None };
        let page = CachedPage {
            final_url: "http://s.test/a?x=1\t".into(),
            body: Some("<p>\nbody</p>".into()),
            fresh_until: 1_234,
            validators: validators.clone(),
        };
        let back = CachedPage::decode(page.encode()).unwrap();
        assert_eq!((back.final_url.as_str(), back.body.as_deref()), ("http://s.test/a?x=1\t", Some("<p>\nbody</p>")));
        assert_eq!((back.fresh_until, back.validators), (1_234, validators));
        let redirect = CachedPage::redirect(&Url::parse("http://s.test/b").unwrap());
        assert_eq!(CachedPage::decode(redirect.encode()).unwrap().body, None);
        assert!(CachedPage::decode(b"Xjunk".to_vec()).is_none());
        assert!(CachedPage::decode(Vec::new()).is_none());
    }

    #[test]
    fn freshness_follows_cache_control_and_validators_extend_the_keep() {
        let none = Validators::default();
        let etag = Validators { etag: Some("\"x\"".into()), last_modified: None };
        assert_eq!(lifetimes(None, "", false, &none), (STATIC_TTL, STATIC_TTL));
        assert_eq!(lifetimes(None, "", true, &none), (DYNAMIC_TTL, DYNAMIC_TTL));
        assert_eq!(lifetimes(None, "public, max-age=600", false, &none).0, Duration::from_secs(600));
        assert_eq!(lifetimes(None, "max-age=5", false, &none).0, MIN_FRESH);
        assert_eq!(lifetimes(None, "max-age=99999999", false, &none).0, STATIC_TTL);
        assert_eq!(lifetimes(None, "", false, &etag).1, STATIC_TTL + REVALIDATE_FOR);
        assert_eq!(lifetimes(Some(Duration::ZERO), "", false, &etag).0, Duration::ZERO);
    }

    #[test]
    fn link_traps_are_recognised() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(link_trap(&u("http://s.test/a/b/c")).is_none());
        assert!(link_trap(&u("http://s.test/x/a/x/a/x/a/x/a")).is_some());
        assert!(link_trap(&u(&format!("http://s.test/{}", "a/".repeat(40)))).is_some());
        assert!(link_trap(&u(&format!("http://s.test/?q={}", "a".repeat(3000)))).is_some());
    }
}
