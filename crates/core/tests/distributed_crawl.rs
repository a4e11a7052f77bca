//! One crawl shared by several workers through a real Redis (the one `scripts/test.sh` starts,
//! or one started here): each page fetched once, both workers busy, the per-host limit held by
//! the two together, a worker that dies mid-crawl losing nothing, and a cancel reaching all.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use image_chat_core::cache::RedisCache;
use image_chat_core::crawl::frontier::{ALIVE, CrawlState, RedisFrontier};
use image_chat_core::crawl::{Commit, Crawler, HostSlot, StopReason, WorkerSummary};
use image_chat_fixtures::redis_server::{self, RedisServer};
use image_chat_fixtures::{FixtureConfig, FixtureServer, SiteSpec};
use url::Url;

/// A crawl must end on its own; this only turns a hang into a failure.
const HANG_GUARD: Duration = Duration::from_secs(180);

struct TestRedis {
    cache: Arc<RedisCache>,
    _own: Option<RedisServer>,
}

fn redis_or_skip() -> Option<TestRedis> {
    let (url, own) = redis_server::url_or_skip()?;
    Some(TestRedis { cache: Arc::new(RedisCache::new(&url, Duration::from_secs(2)).unwrap()), _own: own })
}

/// A crawl id no other test (or earlier run) uses.
fn crawl_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("dc{}-{nanos}", std::process::id())
}

async fn site(pages: u32, latency_ms: u64) -> FixtureServer {
    let mut config = FixtureConfig::generated(SiteSpec { pages, seed: 5, traps: false });
    config.latency = Duration::from_millis(latency_ms);
    FixtureServer::start(config).await.unwrap()
}

fn crawler(server: &FixtureServer, per_host: usize) -> Crawler {
    Crawler::new(Url::parse(&server.url("/")).unwrap())
        .allow_hosts(["127.0.0.1"])
        .max_pages(10_000)
        .max_depth(20)
        .concurrency(8)
        .per_host(per_host, Duration::ZERO)
}

fn frontier(redis: &TestRedis, crawl: &str, owner: &str, crawler: &Crawler, lease: Duration) -> Arc<RedisFrontier> {
    Arc::new(RedisFrontier::new(redis.cache.clone(), crawl, owner, crawler.frontier_options(lease)))
}

/// Records each committed page (final URL and image count), as the index write would store it:
/// the host slot is freed first, then the "write" takes a while, as a real one does.
fn recording(log: &Arc<Mutex<Vec<(String, usize)>>>) -> Commit {
    let log = log.clone();
    Arc::new(move |page: image_chat_core::crawl::PageReport, slot: HostSlot| {
        let log = log.clone();
        Box::pin(async move {
            slot.free().await;
            tokio::time::sleep(Duration::from_millis(15)).await;
            log.lock().unwrap().push((page.final_url.to_string(), page.images.len()));
            Ok(())
        })
    })
}

fn page_fetches(server: &FixtureServer) -> BTreeMap<u32, usize> {
    let site = server.site().unwrap();
    let mut fetched: BTreeMap<u32, usize> = BTreeMap::new();
    for req in server.requests() {
        let path = req.split_once(' ').unwrap().1.split('?').next().unwrap().to_string();
        if let Some(i) = site.page_index(&path) {
            *fetched.entry(i).or_default() += 1;
        }
    }
    fetched
}

/// Starts the coordinator as a session does: the crawl is marked alive before any worker can
/// see it (a worker that finds no mark takes the crawl for orphaned and leaves).
async fn coordinate(
    starter: Crawler,
    front: &Arc<RedisFrontier>,
) -> tokio::task::JoinHandle<image_chat_core::crawl::CrawlSummary> {
    front.keep_alive(ALIVE).await.unwrap();
    tokio::spawn(starter.coordinate(front.clone()))
}

fn spawn_worker(
    redis: &TestRedis,
    server: &FixtureServer,
    crawl: &str,
    owner: &str,
    per_host: usize,
    lease: Duration,
    log: &Arc<Mutex<Vec<(String, usize)>>>,
) -> tokio::task::JoinHandle<WorkerSummary> {
    let c = crawler(server, per_host).use_sitemaps(false);
    let f = frontier(redis, crawl, owner, &c, lease);
    tokio::spawn(c.work(f, recording(log)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_one_crawl_each_page_once_within_the_host_limit() {
    let Some(redis) = redis_or_skip() else { return };
    let server = site(150, 5).await;
    let id = crawl_id();
    let per_host = 3;
    let log = Arc::new(Mutex::new(Vec::new()));
    let lease = Duration::from_secs(30);
    // Sitemaps off: the starter's sitemap reads are outside the shared limit (one at a time).
    let starter = crawler(&server, per_host).use_sitemaps(false);
    let front = frontier(&redis, &id, "starter", &starter, lease);
    let coordinator = coordinate(starter, &front).await;
    let a = spawn_worker(&redis, &server, &id, "a", per_host, lease, &log);
    let b = spawn_worker(&redis, &server, &id, "b", per_host, lease, &log);
    let summary = tokio::time::timeout(HANG_GUARD, coordinator).await.expect("the crawl ended").unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(summary.stop, StopReason::Completed, "{:?}", summary.counters);
    assert_eq!(a.state, CrawlState::Ended("completed".into()));
    assert!(a.pages > 0 && b.pages > 0, "both workers fetched pages: {} and {}", a.pages, b.pages);

    let fetched = page_fetches(&server);
    let linked = server.site().unwrap().linked_pages() as usize;
    assert_eq!(fetched.len(), linked, "every linked page was fetched");
    let twice: Vec<_> = fetched.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "pages fetched more than once: {twice:?}");
    assert_eq!(summary.counters.pages_fetched, a.pages + b.pages, "the summary sums both workers");
    let committed = log.lock().unwrap().len();
    assert!(committed >= linked - 2, "every page was committed: {committed} of {linked}");
    assert!(
        server.max_in_flight() <= per_host,
        "the two workers together kept within {per_host} requests in flight; saw {}",
        server.max_in_flight()
    );
    let p = front.progress().await.unwrap();
    assert_eq!((p.queued, p.in_flight, p.dead), (0, 0, 0), "{p:?}");
    // Each URL (redirecting ones included) was handed out once, and fetched once unless
    // robots.txt forbids it (this site has no link traps).
    let c = &summary.counters;
    assert_eq!(c.pages_fetched + c.pages_skipped, p.claimed, "{p:?} {c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_mid_crawl_loses_nothing() {
    let Some(redis) = redis_or_skip() else { return };
    let server = site(120, 20).await;
    let id = crawl_id();
    let log = Arc::new(Mutex::new(Vec::new()));
    // Short leases, so the dead worker's pages come back quickly.
    let lease = Duration::from_millis(1500);
    let starter = crawler(&server, 4).use_sitemaps(false);
    let front = frontier(&redis, &id, "starter", &starter, lease);
    let coordinator = coordinate(starter, &front).await;
    let survivor = spawn_worker(&redis, &server, &id, "survivor", 4, lease, &log);
    let doomed_log = Arc::new(Mutex::new(Vec::new()));
    let doomed = spawn_worker(&redis, &server, &id, "doomed", 4, lease, &doomed_log);
    // Kill it (no clean-up, as a crash) once it has done some pages and holds leases.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while doomed_log.lock().unwrap().len() < 10 || front.leases_of("doomed").await.unwrap() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the doomed worker never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.abort();
    let summary = tokio::time::timeout(HANG_GUARD, coordinator).await.expect("the crawl ended").unwrap();
    survivor.await.unwrap();
    assert_eq!(summary.stop, StopReason::Completed, "{:?}", summary.counters);

    let mut committed: Vec<String> = log.lock().unwrap().iter().map(|(u, _)| u.clone()).collect();
    committed.extend(doomed_log.lock().unwrap().iter().map(|(u, _)| u.clone()));
    committed.sort();
    committed.dedup();
    let linked = server.site().unwrap().linked_pages() as usize;
    assert!(committed.len() >= linked - 2, "every page was committed by one worker or the other: {}", committed.len());
    let p = front.progress().await.unwrap();
    assert_eq!((p.queued, p.in_flight), (0, 0), "no lease is left: {p:?}");
    assert!(p.expired > 0, "the dead worker's leases lapsed and went back: {p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_every_worker() {
    let Some(redis) = redis_or_skip() else { return };
    let server = site(400, 30).await;
    let id = crawl_id();
    let log = Arc::new(Mutex::new(Vec::new()));
    let lease = Duration::from_secs(30);
    let starter = crawler(&server, 4).use_sitemaps(false);
    let cancel = starter.cancel_handle();
    let front = frontier(&redis, &id, "starter", &starter, lease);
    let coordinator = coordinate(starter, &front).await;
    let a = spawn_worker(&redis, &server, &id, "a", 4, lease, &log);
    let b = spawn_worker(&redis, &server, &id, "b", 4, lease, &log);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while log.lock().unwrap().len() < 10 {
        assert!(tokio::time::Instant::now() < deadline, "the crawl never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    let summary = tokio::time::timeout(HANG_GUARD, coordinator).await.expect("the crawl ended").unwrap();
    assert_eq!(summary.stop, StopReason::Cancelled);
    for worker in [a, b] {
        let done = tokio::time::timeout(Duration::from_secs(10), worker).await.expect("the worker stopped").unwrap();
        assert_eq!(done.state, CrawlState::Ended("cancelled".into()));
    }
    let pages = page_fetches(&server).len();
    assert!(pages < 400, "the crawl stopped well before the end: {pages} pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_stop_when_the_starter_is_gone() {
    let Some(redis) = redis_or_skip() else { return };
    let server = site(400, 30).await;
    let id = crawl_id();
    let log = Arc::new(Mutex::new(Vec::new()));
    let starter = crawler(&server, 4).use_sitemaps(false);
    let front = frontier(&redis, &id, "starter", &starter, Duration::from_secs(30));
    // The starter queues the start page, then dies without ending the crawl.
    let coordinator = coordinate(starter, &front).await;
    let a = spawn_worker(&redis, &server, &id, "a", 4, Duration::from_secs(30), &log);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while log.lock().unwrap().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the crawl never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    coordinator.abort();
    // Its `alive` mark lapses (15 s); the worker then leaves the crawl rather than run forever.
    let done = tokio::time::timeout(Duration::from_secs(40), a).await.expect("the worker stopped").unwrap();
    assert_eq!(done.state, CrawlState::Orphaned);
}
