//! Crawls every replica works on (`crawler.distributed = true`). The replica a crawl is started
//! on publishes it as a job in Redis (`ic:crawl-jobs`) and coordinates it; every replica, that
//! one included, watches the jobs and runs a worker on each, storing each page's images in the
//! shared index before the page is acknowledged. The session's record, events and cancel stay
//! with the replica that started it (and reach the others through the shared session store).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::page_writer::{PageWriter, STORE_REPORT};
use super::pipeline::{end, forward_loop, heartbeat};
use super::registry::Registry;
use super::request::ValidCrawl;
use super::{MAX_ERRORS, PageError, SessionId};
use crate::cache::RedisCache;
use crate::crawl::frontier::{ALIVE, RedisFrontier};
use crate::crawl::{Commit, Crawler, HostSlot, PageReport};
use crate::ingest::{Ingest, Stored};

const JOBS: &str = "ic:crawl-jobs";
/// How often a replica looks for crawls to join.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How often the starting replica sums the workers' stored counts into the record.
const STORED_EVERY: Duration = Duration::from_millis(250);
/// A finished crawl's frontier (its dead-letter set, its reports) stays readable this long.
const KEEP_ENDED: Duration = Duration::from_secs(600);

/// A crawl as every replica needs it to join.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Job {
    pub id: SessionId,
    pub crawl: ValidCrawl,
}

/// Makes a crawler of a job, with the product's fetcher, caches and settings.
pub(crate) type MakeCrawler = Arc<dyn Fn(&ValidCrawl) -> Crawler + Send + Sync>;

/// This replica's part in the crawls the replicas share.
pub(crate) struct Cluster {
    redis: Arc<RedisCache>,
    /// This replica's name in leases and reports: unique per process.
    replica: String,
    lease: Duration,
    /// Sessions this replica runs a worker on.
    working: Mutex<HashSet<SessionId>>,
    make: MakeCrawler,
    ingest: Arc<Ingest>,
}

impl Cluster {
    pub fn new(redis: Arc<RedisCache>, lease: Duration, make: MakeCrawler, ingest: Arc<Ingest>) -> Arc<Self> {
        let replica = format!("{}-{}", std::process::id(), crate::ids::new_id());
        Arc::new(Self { redis, replica, lease, working: Mutex::default(), make, ingest })
    }

    fn frontier(&self, id: &SessionId, crawler: &Crawler) -> Arc<RedisFrontier> {
        Arc::new(RedisFrontier::new(self.redis.clone(), id, &self.replica, crawler.frontier_options(self.lease)))
    }

    /// Looks for crawls to join for as long as the process runs.
    pub fn watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_EVERY);
            loop {
                tick.tick().await;
                let Some(cluster) = weak.upgrade() else { return };
                match cluster.jobs().await {
                    Ok(jobs) => jobs.into_iter().for_each(|job| cluster.join(job)),
                    Err(e) => tracing::debug!("could not read the shared crawls: {e}"),
                }
            }
        });
    }

    async fn jobs(&self) -> Result<Vec<Job>, String> {
        let all: Vec<(String, String)> = self.redis.query(redis::cmd("HGETALL").arg(JOBS).clone()).await?;
        Ok(all.into_iter().filter_map(|(_, job)| serde_json::from_str(&job).ok()).collect())
    }

    /// Starts this replica's worker on `job`, unless it has one.
    fn join(self: &Arc<Self>, job: Job) {
        if !self.working.lock().unwrap_or_else(|e| e.into_inner()).insert(job.id.clone()) {
            return;
        }
        let cluster = self.clone();
        tokio::spawn(async move {
            let crawler = (cluster.make)(&job.crawl);
            let frontier = cluster.frontier(&job.id, &crawler);
            let commit = cluster.commit(&job.id, frontier.clone(), crawler.cancel_handle());
            tracing::info!(session = %job.id, replica = %cluster.replica, "working on a shared crawl");
            let done = crawler.work(frontier, commit).await;
            tracing::info!(session = %job.id, pages = done.pages, state = ?done.state, "left a shared crawl");
            // Ended, or orphaned (its coordinator died): no replica is to join it again. The
            // coordinator withdraws it too; whichever does first, the other's is a no-op.
            cluster.withdraw(&job.id).await;
            cluster.working.lock().unwrap_or_else(|e| e.into_inner()).remove(&job.id);
        });
    }

    async fn withdraw(&self, id: &SessionId) {
        if let Err(e) = self.redis.query::<()>(redis::cmd("HDEL").arg(JOBS).arg(id.as_str()).clone()).await {
            tracing::warn!(session = %id, "could not withdraw a shared crawl: {e}");
        }
    }

    /// Stores a page's images under the session's namespace (several pages in one write) and
    /// reports this worker's totals. Only an unreachable store stops the crawl.
    fn commit(&self, id: &SessionId, frontier: Arc<RedisFrontier>, stop: crate::crawl::CancelHandle) -> Commit {
        let ingest = self.ingest.clone();
        let writer = Arc::new(PageWriter::start(ingest.clone(), id.namespace(), frontier));
        Arc::new(move |page: PageReport, slot: HostSlot| {
            let (ingest, writer, stop) = (ingest.clone(), writer.clone(), stop.clone());
            Box::pin(async move {
                if page.images.is_empty() {
                    return Ok(());
                }
                let stop = async move { stop.cancelled().await };
                let (items, stored) = ingest.prepare_page(page.images, stop, slot.free()).await;
                writer.write(items, stored).await
            })
        })
    }

    /// Runs a session's crawl across the replicas: publishes the job, works on it here too,
    /// coordinates it, and ends the record with every worker's counts.
    pub(super) async fn run(
        self: Arc<Self>,
        registry: Arc<Registry>,
        id: SessionId,
        crawl: ValidCrawl,
        crawler: Crawler,
    ) {
        let frontier = self.frontier(&id, &crawler);
        let job = Job { id: id.clone(), crawl };
        // Alive before it is published: a worker that finds a job without the mark leaves it.
        let published = match (frontier.keep_alive(ALIVE).await, serde_json::to_string(&job)) {
            (Ok(()), Ok(json)) => {
                self.redis.query::<()>(redis::cmd("HSET").arg(JOBS).arg(id.as_str()).arg(json).clone()).await
            }
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(e.to_string()),
        };
        if let Err(e) = &published {
            tracing::error!(session = %id, "could not share the crawl through Redis: {e}");
        }
        let events = crawler.subscribe();
        let forwarder = tokio::spawn(forward_loop(registry.clone(), id.clone(), events));
        let heartbeat = tokio::spawn(heartbeat(registry.clone(), id.clone()));
        let counting = tokio::spawn(count_stored(registry.clone(), id.clone(), frontier.clone()));
        if published.is_ok() {
            self.join(job);
        }
        let summary = crawler.coordinate(frontier.clone()).await;
        let _ = forwarder.await;
        heartbeat.abort();
        counting.abort();
        self.withdraw(&id).await;
        // The workers report before they acknowledge, so with nothing leased every count is in.
        update_stored(&registry, &id, &frontier).await;
        // A page fetched again after its replica died, or an image two replicas both met, was
        // written twice and replaced by URL: the index holds the count, the reports may not.
        match self.ingest.index().stats(Some(&id.namespace())).await {
            Ok(stats) => registry.update(&id, |r| {
                r.images_indexed = stats.images;
                r.images_embedded = stats.vectors;
                None
            }),
            Err(e) => tracing::warn!(session = %id, "could not count the images indexed: {e}"),
        }
        let _ = frontier.forget(KEEP_ENDED).await;
        // The workers' failed pages (a few each) become the session's errors, as an in-process
        // crawl's do.
        registry.update(&id, |r| {
            for page in &summary.pages {
                if let Some(reason) = page.outcome.failure_reason()
                    && r.errors.len() < MAX_ERRORS
                    && !r.errors.iter().any(|e| e.url == page.url)
                {
                    r.errors.push(PageError { url: page.url.clone(), reason });
                }
            }
            None
        });
        end(&registry, &id, &summary, None, None);
        tracing::info!(session = %id, stop = ?summary.stop, "shared crawl ended");
    }
}

async fn count_stored(registry: Arc<Registry>, id: SessionId, frontier: Arc<RedisFrontier>) {
    let mut tick = tokio::time::interval(STORED_EVERY);
    loop {
        tick.tick().await;
        update_stored(&registry, &id, &frontier).await;
    }
}

/// Sums every worker's stored counts into the session's record.
async fn update_stored(registry: &Registry, id: &SessionId, frontier: &RedisFrontier) {
    let reports = match frontier.reports(STORE_REPORT).await {
        Ok(reports) => reports,
        Err(e) => return tracing::debug!("could not read the workers' stored counts: {e}"),
    };
    let mut sum = Stored::default();
    for stored in reports.iter().filter_map(|r| serde_json::from_str::<Stored>(r).ok()) {
        sum.add(&stored);
    }
    registry.update(id, |r| {
        if r.images_indexed == sum.indexed && r.images_analysed == sum.analysed {
            return None;
        }
        r.images_indexed = sum.indexed;
        r.images_embedded = sum.embedded;
        r.images_analysed = sum.analysed;
        r.images_too_small = sum.too_small;
        r.images_missing = sum.missing;
        if let Some(e) = &sum.embed_error
            && r.message.is_none()
        {
            r.message = Some(format!("some images are searchable by keywords only: {e}"));
        }
        Some(r.indexed_event())
    });
}
