//! One crawl worked on by several replicas through its Redis frontier ([`RedisFrontier`]).
//!
//! The replica that started the crawl *coordinates*: it makes the start checks, queues the start
//! page and the sitemaps' URLs, keeps the crawl marked alive, sums every worker's reports into
//! the progress, and ends the crawl once nothing is queued or leased (or at the page limit, or
//! on cancel). Every replica, that one included, runs a *worker*: it claims pages, fetches and
//! extracts them as an in-process crawl does, queues the links they hold, hands each page to
//! its commit (the index write) and acknowledges the page only once that is done — so a
//! replica that dies before then leaves the page to another, and the write being keyed by
//! namespace and URL makes the second write replace the first.
//!
//! What stays per replica: the robots.txt cache, the HTML cache when it is in-process, the
//! per-host delay from a robots.txt Crawl-delay (the frontier spaces requests by the settings'
//! delay across replicas), and the dedup of an image seen on two pages handled by different
//! replicas (the index keeps one row per URL; the variants of one picture are merged by search).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use super::{Run, cancelled};
use crate::BoxFuture;
use crate::crawl::frontier::{ALIVE, CrawlState, Next, RedisFrontier, UNREACHABLE_FOR};
use crate::crawl::outcome::{Counters, CrawlEvent, CrawlSummary, PageLog, PageReport, StopReason};
use crate::crawl::page::{TaskResult, crawl_page};

/// How often the coordinator sums the reports, renews `alive` and looks for the end.
const TICK: Duration = Duration::from_millis(200);
/// How often a worker looks whether the crawl ended.
const STATE_EVERY: Duration = Duration::from_millis(250);
/// Failed pages each worker reports (the session's error list is short too).
const MAX_FAILURES: usize = 20;
/// Longest a worker waits before asking the frontier again.
const MAX_WAIT: Duration = Duration::from_millis(200);

/// The report kinds in the frontier's `w` hash.
const CRAWL_REPORT: &str = "crawl";

/// Ends recorded in the frontier.
const COMPLETED: &str = "completed";
const PAGE_LIMIT: &str = "page_limit";
const CANCELLED: &str = "cancelled";

/// What one worker has done so far, as it reports it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct WorkerReport {
    counters: Counters,
    failures: Vec<PageLog>,
}

/// What a worker does with a page before acknowledging it: stores its images, freeing the
/// page's host slot once it needs no more requests. An error stops the crawl on every replica
/// (the store is gone), with the error as the reason.
pub type Commit = Arc<dyn Fn(PageReport, HostSlot) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A page's request slot of its host, counted across every replica. Free it once the page's
/// requests are done (its images read), so storing the page holds none; unfreed, the page's
/// acknowledgement frees it.
pub struct HostSlot {
    frontier: Arc<RedisFrontier>,
    token: u64,
}

impl HostSlot {
    pub async fn free(self) {
        if let Err(e) = self.frontier.free_slot(self.token).await {
            tracing::debug!(token = self.token, "could not free a host slot early ({e}); the acknowledgement will");
        }
    }
}

/// How a worker's part in a crawl ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Pages this worker fetched (or took from the cache).
    pub pages: u64,
    pub state: CrawlState,
}

impl Run {
    /// This replica's worker on a crawl the replicas share; returns when the crawl ended, its
    /// coordinator died, or this crawler was cancelled.
    pub(in crate::crawl) async fn work(mut self, frontier: Arc<RedisFrontier>, commit: Commit) -> WorkerSummary {
        let Some(shared) = self.shared.clone() else {
            let why = self.setup_error.take().unwrap_or_default();
            tracing::error!("a crawl worker could not start: {why}");
            return WorkerSummary { pages: 0, state: CrawlState::Ended(why) };
        };
        shared.queue_redirects.store(true, std::sync::atomic::Ordering::Relaxed);
        let concurrency = self.opts.concurrency.max(1);
        let mut fetching: JoinSet<(u64, TaskResult)> = JoinSet::new();
        let mut committing = FuturesUnordered::new();
        // Leases held, by token, renewed while the page is fetched and committed.
        let mut held: HashMap<u64, Url> = HashMap::new();
        // Which page each fetch task is, so a task that panicked still gives its page back.
        let mut tasks: HashMap<tokio::task::Id, u64> = HashMap::new();
        let mut failures: Vec<PageLog> = Vec::new();
        let mut ask_at = Instant::now();
        let lease = frontier.options().lease;
        let mut renew = tokio::time::interval(lease / 3);
        let mut look = tokio::time::interval(STATE_EVERY);
        let mut cancel = self.cancel.clone();
        // The last time Redis answered: a crawl whose frontier stays out of reach is given up.
        let mut reached = Instant::now();
        let state = loop {
            if reached.elapsed() > UNREACHABLE_FOR {
                break CrawlState::Ended(format!(
                    "the crawl frontier (Redis) stayed unreachable for {UNREACHABLE_FOR:?}"
                ));
            }
            while fetching.len() + committing.len() < concurrency && Instant::now() >= ask_at {
                let claimed = frontier.claim().await;
                if claimed.is_ok() {
                    reached = Instant::now();
                }
                match claimed {
                    Ok(Next::Claimed(claim)) => {
                        if self.opts.respect_robots {
                            let robots = self.robots_for(&shared, &claim.url).await;
                            if !robots.allowed(claim.url.as_str()) {
                                self.skip(&claim.url, claim.depth, super::robots_refusal(&robots));
                                self.acknowledge(&frontier, claim.token, &failures).await;
                                continue;
                            }
                        }
                        self.counters.pages_fetched += 1;
                        held.insert(claim.token, claim.url.clone());
                        let shared = shared.clone();
                        let task = fetching
                            .spawn(async move { (claim.token, crawl_page(shared, claim.url, claim.depth).await) });
                        tasks.insert(task.id(), claim.token);
                    }
                    Ok(Next::Wait(wait)) => ask_at = Instant::now() + wait.min(MAX_WAIT),
                    // Only the coordinator ends a crawl: it may still queue sitemap URLs.
                    Ok(Next::Done | Next::Limit) => ask_at = Instant::now() + MAX_WAIT,
                    Err(e) => {
                        tracing::warn!("the crawl frontier is unreachable ({e}); asking again shortly");
                        ask_at = Instant::now() + Duration::from_millis(500);
                    }
                }
            }
            let room = fetching.len() + committing.len() < concurrency;
            tokio::select! {
                Some(done) = fetching.join_next_with_id(), if !fetching.is_empty() => {
                    let (token, result) = match done {
                        Ok((id, done)) => {
                            tasks.remove(&id);
                            done
                        }
                        // A page whose task panicked counts as a failed try: after a few it is
                        // given up (dead-lettered) rather than retried for ever.
                        Err(e) => {
                            if let Some(token) = tasks.remove(&e.id()) {
                                tracing::error!(token, "a page task failed: {e}");
                                held.remove(&token);
                                let _ = frontier.ack(token, false).await;
                            }
                            continue;
                        }
                    };
                    // A same-site redirect is queued as a link at the same depth: the frontier
                    // knows whether its target was seen, on any replica.
                    if let TaskResult { depth, result: Err(crate::crawl::PageOutcome::Redirected { to }), .. } = &result
                        && let Ok(to) = Url::parse(to)
                        && shared.scope.same_site(&to)
                        && shared.scope.wanted(&to)
                    {
                        self.links.push_back((super::fetch_url(&to), *depth));
                    }
                    let mut report = None;
                    self.handle(result, &shared, &mut |page| report = Some(page));
                    if let Some(log) = self.pages.last()
                        && log.outcome.is_failure()
                        && failures.len() < MAX_FAILURES
                    {
                        failures.push(log.clone());
                    }
                    // The log of every page stays with the coordinator's summary, not here.
                    self.pages.clear();
                    let links: Vec<(Url, u32)> = self.links.drain(..).collect();
                    let (frontier, commit) = (frontier.clone(), commit.clone());
                    committing.push(async move {
                        // Links first: once the page is acknowledged, its links must be queued.
                        frontier.enqueue(&links).await.map_err(|e| format!("the crawl frontier is unreachable: {e}"))?;
                        if let Some(page) = report {
                            commit(page, HostSlot { frontier: frontier.clone(), token }).await?;
                        }
                        Ok::<u64, String>(token)
                    });
                }
                Some(committed) = committing.next(), if !committing.is_empty() => match committed {
                    Ok(token) => {
                        held.remove(&token);
                        self.acknowledge(&frontier, token, &failures).await;
                        // A slot of this page's host just came free: ask at once.
                        ask_at = Instant::now();
                    }
                    Err(why) => {
                        tracing::error!("a crawl worker stops the crawl: {why}");
                        let _ = frontier.end(&why).await;
                        break CrawlState::Ended(why);
                    }
                },
                () = tokio::time::sleep_until(ask_at), if room && ask_at > Instant::now() => {}
                _ = renew.tick() => {
                    for token in held.keys() {
                        if let Ok(false) = frontier.renew(*token).await {
                            tracing::warn!(token, "a page's lease lapsed before it was done; another replica may fetch it too");
                        }
                    }
                }
                _ = look.tick() => match frontier.state().await {
                    Ok(CrawlState::Running) => reached = Instant::now(),
                    Ok(state) => break state,
                    Err(e) => tracing::debug!("could not read the crawl's state: {e}"),
                },
                () = cancelled(&mut cancel) => break CrawlState::Ended(CANCELLED.into()),
            }
        };
        fetching.abort_all();
        shared.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.send_report(&frontier, &failures).await;
        WorkerSummary { pages: self.counters.pages_fetched, state }
    }

    async fn send_report(&self, frontier: &RedisFrontier, failures: &[PageLog]) -> Result<(), String> {
        let report = WorkerReport { counters: self.counters.clone(), failures: failures.to_vec() };
        let json = serde_json::to_string(&report).map_err(|e| e.to_string())?;
        frontier.report(CRAWL_REPORT, &json).await
    }

    /// Reports this worker's counts, then releases the page as done: the coordinator, seeing
    /// nothing leased, has every count.
    async fn acknowledge(&self, frontier: &RedisFrontier, token: u64, failures: &[PageLog]) {
        if let Err(e) = self.send_report(frontier, failures).await {
            tracing::warn!("could not report the crawl's progress: {e}");
        }
        if let Err(e) = frontier.ack(token, true).await {
            // The lease lapses and the page is fetched again: its write replaces this one.
            tracing::warn!(token, "could not acknowledge a page ({e}); it will be fetched again");
        }
    }

    /// Starts a crawl the replicas share and follows it to its end: the start checks, the
    /// start page and sitemap URLs queued, every worker's counts summed into the progress.
    pub(in crate::crawl) async fn coordinate(mut self, frontier: Arc<RedisFrontier>) -> CrawlSummary {
        if let Err(e) = frontier.keep_alive(ALIVE).await {
            return self.refuse(&frontier, &format!("the crawl frontier (Redis) is unreachable: {e}")).await;
        }
        let (shared, start, robots) = match self.begin().await {
            Ok(begun) => begun,
            Err(stop) => {
                let _ = frontier.end(if stop == StopReason::Cancelled { CANCELLED } else { "start_refused" }).await;
                return self.finish(stop);
            }
        };
        if let Err(e) = frontier.enqueue(&[(start.clone(), 0)]).await {
            return self.refuse(&frontier, &format!("the crawl frontier (Redis) is unreachable: {e}")).await;
        }
        let (sitemap_task, mut sitemap_rx) = self.sitemaps(&shared, &start, &robots);
        let mut sitemaps_open = sitemap_task.is_some();
        let mut tick = tokio::time::interval(TICK);
        let mut cancel = self.cancel.clone();
        let max_pages = u64::from(self.opts.max_pages);
        let mut reached = Instant::now();
        let stop = loop {
            if reached.elapsed() > UNREACHABLE_FOR {
                let why = format!("the crawl frontier (Redis) stayed unreachable for {UNREACHABLE_FOR:?}");
                self.log(&start, 0, crate::crawl::PageOutcome::Failed { reason: why });
                break StopReason::Aborted;
            }
            tokio::select! {
                urls = sitemap_rx.recv(), if sitemaps_open => match urls {
                    Some(urls) => {
                        self.add_sitemap_urls(&shared, urls);
                        let urls: Vec<(Url, u32)> = self.sitemap_urls.drain(..).map(|u| (u, 1)).collect();
                        if let Err(e) = frontier.enqueue(&urls).await {
                            tracing::warn!("sitemap URLs could not be queued: {e}");
                        }
                    }
                    None => sitemaps_open = false,
                },
                () = cancelled(&mut cancel) => {
                    let _ = frontier.end(CANCELLED).await;
                    break StopReason::Cancelled;
                }
                _ = tick.tick() => {
                    if let Err(e) = frontier.keep_alive(ALIVE).await {
                        tracing::warn!("could not renew the crawl in Redis: {e}");
                        continue;
                    }
                    reached = Instant::now();
                    match frontier.state().await {
                        Ok(CrawlState::Ended(why)) => {
                            self.log(&start, 0, crate::crawl::PageOutcome::Failed { reason: why });
                            break StopReason::Aborted;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!("could not read the crawl's state: {e}");
                            continue;
                        }
                    }
                    let Ok(progress) = frontier.progress().await else { continue };
                    self.gather(&frontier, progress.queued, progress.dead).await;
                    let _ = self.events.send(CrawlEvent::Progress { counters: self.counters.clone(), current_url: String::new() });
                    if progress.in_flight == 0 && !sitemaps_open {
                        if progress.queued == 0 {
                            let _ = frontier.end(COMPLETED).await;
                            break StopReason::Completed;
                        }
                        if max_pages > 0 && progress.claimed >= max_pages {
                            let _ = frontier.end(PAGE_LIMIT).await;
                            break StopReason::PageLimit;
                        }
                    }
                }
            }
        };
        if let Some(task) = sitemap_task {
            task.abort();
        }
        shared.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Ok(progress) = frontier.progress().await {
            let failures = self.gather(&frontier, progress.queued, progress.dead).await;
            self.pages.extend(failures);
        }
        self.counters.sitemaps_cut = shared.sitemaps_cut.load(std::sync::atomic::Ordering::Relaxed);
        self.finish(stop)
    }

    /// Sums every worker's latest report into this run's counters; the pages they failed.
    async fn gather(&mut self, frontier: &RedisFrontier, queued: u64, dead: u64) -> Vec<PageLog> {
        let reports = match frontier.reports(CRAWL_REPORT).await {
            Ok(reports) => reports,
            Err(e) => {
                tracing::debug!("could not read the workers' reports: {e}");
                return Vec::new();
            }
        };
        let mut sum = Counters::default();
        let mut failures = Vec::new();
        for report in reports.iter().filter_map(|r| serde_json::from_str::<WorkerReport>(r).ok()) {
            sum.add(&report.counters);
            failures.extend(report.failures);
        }
        sum.pages_queued = queued;
        sum.pages_dead = dead;
        self.counters = sum;
        failures
    }

    async fn refuse(mut self, frontier: &RedisFrontier, why: &str) -> CrawlSummary {
        let _ = frontier.end(why).await;
        let start = self.start.clone();
        self.log(&start, 0, crate::crawl::PageOutcome::Failed { reason: why.to_string() });
        self.finish(StopReason::StartRefused)
    }
}
