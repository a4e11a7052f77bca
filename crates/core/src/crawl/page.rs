//! One page's task: what the crawl's page tasks share (fetcher, politeness, cache, scope,
//! robots.txt, the pages seen), and fetching a page — from the HTML cache while it is fresh,
//! revalidated when stale, from the network otherwise — then extracting it off the async threads.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use url::Url;

use super::html_cache::{
    CachedPage, DYNAMIC_TTL, GONE_TTL, cache_get, cache_key, cache_put, encode_page, lifetimes, unix_now,
};
use super::normalize::{Scope, page_key};
use super::outcome::{PageOutcome, RenderDecision};
use super::politeness::{Hosts, Permit, Purpose};
use super::render_step::{RenderState, Reuse, maybe_render};
use crate::cache::Cache;
use crate::extract::{self, PageImages, budget};
use crate::net::{Fetched, Fetcher, RobotsCache, Want};
use crate::timings::{Clock, Stage, Wait};

/// What page tasks share.
pub(super) struct Shared {
    pub fetcher: Arc<dyn Fetcher>,
    /// Shared with the analysis of this crawl's images (one budget per host).
    pub hosts: Arc<Hosts>,
    pub clock: Arc<Clock>,
    pub cache: Option<Arc<dyn Cache>>,
    pub scope: Scope,
    pub robots: RobotsCache,
    pub respect_robots: bool,
    /// Keys of every page queued or fetched: shared so a redirect never fetches a page twice.
    pub seen: Mutex<HashSet<String>>,
    /// Set when the crawl ends (cancelled, or at its limit): a page being parsed stops between
    /// chunks, so no core stays busy for a crawl that is over.
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// Sitemaps read only in part, or not at all, once the crawl's sitemap budget was spent.
    pub sitemaps_cut: std::sync::atomic::AtomicU64,
    /// Overrides how long cached pages are fresh (tests; otherwise Cache-Control decides).
    pub html_freshness: Option<Duration>,
    pub render: RenderState,
    /// Same-site redirects are not followed but handed back (`Redirected`) to be queued: a
    /// crawl replicas share knows what is seen only in its frontier, not in this process.
    pub queue_redirects: AtomicBool,
}

impl Shared {
    /// Marks a page key seen; true when it was new.
    pub fn mark_seen(&self, key: String) -> bool {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key)
    }

    /// A request slot for `host`, the wait counted against `stage`.
    pub async fn slot(&self, host: &str, stage: Stage) -> Permit {
        self.hosts.acquire_timed(host, Purpose::Page, &self.clock, stage).await
    }

    /// May a redirect go to `next`? Same site, not yet seen, and not forbidden by a robots.txt
    /// already read.
    pub fn may_follow(&self, next: &Url) -> bool {
        if self.queue_redirects.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
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

pub(super) struct Fetchd {
    pub final_url: Url,
    pub status: u16,
    pub from_cache: bool,
    pub bytes: u64,
    pub page: PageImages,
    pub render: Option<RenderDecision>,
}

pub(super) struct TaskResult {
    pub url: Url,
    pub depth: u32,
    pub result: Result<Fetchd, PageOutcome>,
}

pub(super) async fn crawl_page(shared: Arc<Shared>, url: Url, depth: u32) -> TaskResult {
    let result = fetch_and_extract(&shared, &url).await;
    TaskResult { url, depth, result }
}

async fn fetch_and_extract(shared: &Shared, url: &Url) -> Result<Fetchd, PageOutcome> {
    let hit = match cache_get(shared.cache.as_ref(), url).await {
        Some(Err(reason)) => return Err(PageOutcome::Failed { reason: format!("{reason} (cached)") }),
        Some(Ok(hit)) => Some(hit),
        None => None,
    };
    if let Some(hit) = hit
        && let Ok(final_url) = Url::parse(&hit.final_url)
    {
        match hit.body {
            Some(_) if hit.fresh_until > unix_now() => {
                let reuse = Reuse { fresh_until: hit.fresh_until, keep: DYNAMIC_TTL, unchanged: true };
                return from_cache(shared, hit.body.unwrap_or_default(), final_url, reuse).await;
            }
            // Stale, but the site can tell whether it changed.
            Some(_) if !hit.validators.is_empty() => return fetch_network(shared, url, Some(hit)).await,
            Some(_) => {}
            // A cached redirect: follow it as the network would, through the cache if it can.
            None if !shared.may_follow(&final_url) => {
                return Err(PageOutcome::Redirected { to: final_url.to_string() });
            }
            None => {
                if let Some(Ok(target @ CachedPage { body: Some(_), .. })) =
                    cache_get(shared.cache.as_ref(), &final_url).await
                {
                    if target.fresh_until > unix_now() {
                        let reuse = Reuse { fresh_until: target.fresh_until, keep: DYNAMIC_TTL, unchanged: true };
                        return from_cache(shared, target.body.unwrap_or_default(), final_url, reuse).await;
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

async fn from_cache(shared: &Shared, body: String, final_url: Url, reuse: Reuse) -> Result<Fetchd, PageOutcome> {
    let bytes = body.len() as u64;
    let (page, render, rendered_bytes) = extract_and_render(shared, body, &final_url, Some(reuse)).await?;
    Ok(Fetchd { final_url, status: 200, from_cache: true, bytes: bytes + rendered_bytes, page, render })
}

/// Extracts the page as sent, then renders it when the crawl's render mode and the page call
/// for it (the rendered page's images then replace and extend the raw ones).
async fn extract_and_render(
    shared: &Shared,
    html: String,
    final_url: &Url,
    reuse: Option<Reuse>,
) -> Result<(PageImages, Option<RenderDecision>, u64), PageOutcome> {
    // The raw HTML is read for signs of script-built content only when `auto` may render.
    let signals_wanted = shared.render.mode == crate::render::RenderMode::Auto && shared.render.renderer.is_some();
    let (raw, signals) =
        extract_blocking(html, final_url.clone(), signals_wanted, shared.stop.clone(), shared.clock.clone()).await?;
    let signals = signals.map(|s| s.with_images(raw.images.len())).unwrap_or_default();
    Ok(maybe_render(shared, signals, raw, final_url, reuse).await)
}

/// Fetches a page; with a stale cached copy, asks only whether it changed (a 304 serves the copy).
async fn fetch_network(shared: &Shared, url: &Url, stale: Option<CachedPage>) -> Result<Fetchd, PageOutcome> {
    let host = url.host_str().unwrap_or("").to_string();
    let validators = stale.as_ref().map(|p| p.validators.clone()).unwrap_or_default();
    let permit = shared.slot(&host, Stage::FetchPages).await;
    let fetched = shared
        .clock
        .time(Stage::FetchPages, shared.fetcher.fetch(url, Want::Html, &|next| shared.may_follow(next), &validators))
        .await;
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
            cache_put(shared.cache.as_ref(), &[url], page.encode(), keep).await;
            let final_url = Url::parse(&page.final_url).unwrap_or_else(|_| url.clone());
            let reuse = Reuse { fresh_until: page.fresh_until, keep, unchanged: true };
            return from_cache(shared, page.body.unwrap_or_default(), final_url, reuse).await;
        }
        Fetched::NotHtml { content_type, .. } => return Err(PageOutcome::NotHtml { content_type }),
        Fetched::Redirected { to } => {
            // Not merely off the site: an address no fetch of ours may reach. Said as such (the
            // start page of a crawl that redirects there would otherwise read as excluded).
            if let Err(refusal) = shared.fetcher.guard().check_url(&to) {
                return Err(PageOutcome::Failed { reason: format!("redirected to {to}, which is refused: {refusal}") });
            }
            cache_put(shared.cache.as_ref(), &[url], CachedPage::redirect(&to).encode(), DYNAMIC_TTL).await;
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
    let mut reuse = None;
    if !cc.contains("no-store") {
        let dynamic = url.query().is_some()
            || body.sets_cookie
            || cc.contains("no-cache")
            || cc.contains("private")
            || cc.contains("max-age=0");
        let (fresh, keep) = lifetimes(shared.html_freshness, cc, dynamic, &body.validators);
        // `no-cache`: keep it, but ask every time (a 304 is still cheap).
        let fresh_until = if cc.contains("no-cache") { 0 } else { unix_now() + fresh.as_secs() };
        if shared.cache.is_some() {
            let entry = encode_page(body.final_url.as_str(), &body.text, fresh_until, &body.validators);
            // Under every URL of the redirect chain, so a later crawl finds the page however it
            // reaches it.
            let mut urls: Vec<&Url> = vec![url, &body.final_url];
            urls.extend(body.redirects.iter());
            cache_put(shared.cache.as_ref(), &urls, entry, keep).await;
        }
        reuse = Some(Reuse { fresh_until, keep, unchanged: false });
    }
    let (page, render, rendered_bytes) = extract_and_render(shared, body.text, &body.final_url, reuse).await?;
    Ok(Fetchd {
        final_url: body.final_url,
        status: body.status,
        from_cache: false,
        bytes: body.bytes + rendered_bytes,
        page,
        render,
    })
}

/// Pages parsed at once in the process: as many as there are cores. More would not finish
/// sooner, and each parse of a large page holds tens of times its size in memory. (Parsing one
/// page at a time, one core fewer, was tried to keep `/health` answering during a crawl of huge
/// pages; what held the async threads was the scan for script-built content, now done here.)
static EXTRACT_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(crate::blocking::cores()));

/// Extracts a page off the async threads, within what one page may cost: a page too complex
/// to parse in bounded time is refused unparsed, and a parse stops once the crawl is over.
/// With `signals`, the raw HTML is also read for signs of script-built content, on the same
/// thread: that scan lower-cases the whole page, and on the async threads a crawl of pages of
/// 200,000 images held both of them (and `/health`) for seconds.
pub(super) async fn extract_blocking(
    html: String,
    url: Url,
    signals: bool,
    stop: Arc<AtomicBool>,
    clock: Arc<Clock>,
) -> Result<(PageImages, Option<crate::render::need::Signals>), PageOutcome> {
    let clock_wait = clock.clone();
    let work = move || {
        let t = std::time::Instant::now();
        let signals = signals.then(|| crate::render::need::read(&html));
        let page = extract::extract_within(&html, &url, &stop);
        clock.busy(Stage::Extract, t.elapsed());
        let page = page.map_err(|refused| match refused {
            budget::Refused::TooComplex(reason) => PageOutcome::TooComplex { reason },
            budget::Refused::Cancelled => {
                PageOutcome::Failed { reason: "the crawl ended while the page was parsed".into() }
            }
        })?;
        Ok((page, signals))
    };
    let t = std::time::Instant::now();
    let core = EXTRACT_SLOTS.acquire().await;
    clock_wait.waited(Stage::Extract, Wait::Slot, t.elapsed());
    // The core is handed back by the blocking thread as the parse ends, not once this task is
    // polled again: on a busy runtime that wake-up came late, and the slots sat held with no
    // parse running (about 40% of their time in a 5,000-page crawl on 2 cores).
    tokio::task::spawn_blocking(move || {
        let _core = core;
        work()
    })
    .await
    .map_err(|e| PageOutcome::Failed { reason: format!("extraction failed: {e}") })?
}
