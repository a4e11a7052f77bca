//! The session manager: starts crawls within the capacity and domain rules, keeps each session's
//! record and progress bus, cancels, expires idle sessions and restores records after a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::distributed::{Cluster, MakeCrawler};
use super::registry::{Entry, Live, Outgoing, Registry, publisher};
use super::request::ValidCrawl;
use super::seam::{Admission, LocalSessions, SessionStore};
use super::shared::RedisSessions;
use super::store::Store;
use super::{CrawlRequest, SessionEvent, SessionId, SessionRecord, SessionStatus, now_secs};
use crate::Settings;
use crate::config::DomainPolicy;
use crate::crawl::{Counters, Crawler};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::index::ImageIndex;
use crate::ingest::Ingest;

/// Events a slow subscriber may fall behind by before it is told to re-read the snapshot.
const BUS_CAPACITY: usize = 512;

/// A session's state now and, while it runs, its events from now on: nothing falls between.
pub struct Subscription {
    pub record: SessionRecord,
    pub events: Option<broadcast::Receiver<SessionEvent>>,
}

#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

/// What a session manager is made of. The composition root (`services::Services`) builds it,
/// so a session crawls, fetches, analyses and stores exactly as the rest of the product does.
pub struct Parts {
    pub settings: Arc<Settings>,
    pub index: Arc<dyn ImageIndex>,
    /// The model, or why there is none (images are then indexed for keywords only).
    pub embedder: std::result::Result<Arc<dyn Embedder>, String>,
    /// Analyses, embeds and stores each page's new images, as `image-chat crawl --index` does.
    pub ingest: Ingest,
    /// A crawler of a start URL, with the product's fetcher, HTML cache and settings.
    pub crawler: Arc<dyn Fn(url::Url) -> Crawler + Send + Sync>,
    /// Where sessions are shared: Redis when configured ([`shared_store`]), this process else.
    pub(crate) shared: Arc<dyn SessionStore>,
    /// The Redis the replicas share, when configured: with `crawler.distributed`, every
    /// replica works on every crawl through it.
    pub(crate) redis: Option<Arc<crate::cache::RedisCache>>,
}

/// The session seam the caches' Redis (if any) makes: every replica through Redis, or this
/// process alone.
pub(crate) fn shared_store(caches: &crate::cache::CacheLayers) -> Arc<dyn SessionStore> {
    match caches.redis() {
        Some(redis) => Arc::new(RedisSessions::new(redis.clone())),
        None => Arc::new(LocalSessions),
    }
}

struct Inner {
    crawler: Arc<dyn Fn(url::Url) -> Crawler + Send + Sync>,
    settings: Arc<Settings>,
    index: Arc<dyn ImageIndex>,
    /// The model, or why there is none (images are then indexed for keywords only).
    embedder: std::result::Result<Arc<dyn Embedder>, String>,
    /// Analyses, embeds and stores each page's new images, as `image-chat crawl --index` does.
    ingest: Ingest,
    registry: Arc<Registry>,
    /// This replica's part in crawls the replicas share (`crawler.distributed`).
    cluster: Option<Arc<Cluster>>,
}

impl SessionManager {
    /// Opens the sessions kept in the data dir. Sessions that were running when the server
    /// stopped are marked interrupted (unless, with Redis, another replica's heartbeat shows
    /// they still run); their indexed images stay searchable.
    pub async fn open(parts: Parts) -> Result<Self> {
        let Parts { settings, index, embedder, ingest, crawler, shared: cluster, redis } = parts;
        let store = Store::open(&settings.data_dir)?;
        let mut records = Vec::new();
        for mut record in store.load_all()? {
            if record.status.is_running() {
                if cluster.is_running(&record.id).await.unwrap_or(false) {
                    continue;
                }
                record.status = SessionStatus::Interrupted;
                record.message = Some("the server stopped while this crawl was running".into());
                // The record is written every few seconds, the index at every batch: after a
                // crash the index holds more than the record says. The index is the truth.
                if let Ok(stored) = index.stats(Some(&record.namespace)).await {
                    record.images_indexed = stored.images;
                    record.images_embedded = stored.vectors;
                }
                store.save(&record)?;
            }
            records.push(record);
        }
        let registry = Arc::new(Registry::new(store, cluster.clone(), records));
        let weak = Arc::downgrade(&registry);
        cluster.listen_for_cancels(Box::new(move |id| {
            if let Some(registry) = weak.upgrade() {
                registry.cancel_local(id);
            }
        }));
        let shared_crawls = match redis.filter(|_| settings.crawler.distributed) {
            Some(redis) => {
                let make = crawler.clone();
                let make: MakeCrawler = Arc::new(move |v: &ValidCrawl| crawler_for(&make, v));
                let lease = Duration::from_millis(settings.crawler.lease_ms);
                let cluster = Cluster::new(redis, lease, make, Arc::new(ingest.clone()));
                cluster.watch();
                Some(cluster)
            }
            None if settings.crawler.distributed => {
                return Err(Error::Settings {
                    origin: "crawler".into(),
                    message: "crawler.distributed = true needs cache.redis_url".into(),
                });
            }
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner { crawler, settings, index, embedder, ingest, registry, cluster: shared_crawls }),
        })
    }

    /// Starts a crawl session. Errors: `Invalid` naming the field, `Capacity` when the
    /// concurrent-crawl limit is reached, `Conflict` when the domain is locked — across every
    /// replica when Redis is configured, in this process otherwise (or when Redis is down).
    pub async fn start(&self, request: &CrawlRequest) -> Result<SessionRecord> {
        let valid = request.validate(&self.inner.settings.crawler)?;
        let limits = &self.inner.settings.sessions;
        let domain = domain_of(&valid.url);
        let exclusive = limits.domain_policy == DomainPolicy::Exclusive;
        let id = SessionId::new();
        let cluster = &self.inner.registry.cluster;
        self.check_local(&self.inner.registry.lock(), &domain)?;
        let lock = match cluster.admit(&id, &domain, limits.max_concurrent_crawls, exclusive).await {
            Ok(Admission::Admitted(lock)) => lock,
            Ok(Admission::AtCapacity(running)) => {
                return Err(at_capacity(running as usize, limits.max_concurrent_crawls));
            }
            Ok(Admission::DomainLocked(holder)) => return Err(domain_locked(&domain, &holder)),
            Err(e) => {
                tracing::warn!(
                    "the {} store is unavailable for the crawl rules ({e}); enforcing them in this process only",
                    cluster.kind()
                );
                None
            }
        };
        match self.insert(id.clone(), &valid, domain.clone(), lock.clone()) {
            Ok(record) => Ok(record),
            Err(e) => {
                cluster.release(&id, &domain, lock.as_deref()).await;
                Err(e)
            }
        }
    }

    /// The capacity and domain rules among this process's own crawls.
    fn check_local(&self, sessions: &HashMap<SessionId, Entry>, domain: &str) -> Result<()> {
        let limits = &self.inner.settings.sessions;
        let running: Vec<&SessionRecord> = sessions.values().filter(|e| e.live.is_some()).map(|e| &e.record).collect();
        if running.len() >= limits.max_concurrent_crawls {
            return Err(at_capacity(running.len(), limits.max_concurrent_crawls));
        }
        if limits.domain_policy == DomainPolicy::Exclusive
            && let Some(other) = running.iter().find(|r| r.domain == domain)
        {
            return Err(domain_locked(domain, &other.id));
        }
        Ok(())
    }

    fn insert(&self, id: SessionId, valid: &ValidCrawl, domain: String, lock: Option<String>) -> Result<SessionRecord> {
        let crawler = self.crawler(valid);
        let (events, _) = broadcast::channel(BUS_CAPACITY);
        let (outgoing, publisher_rx) = mpsc::unbounded_channel();
        let registry = &self.inner.registry;
        let record = {
            // Checked again under the lock: two requests of this process may race.
            let mut sessions = registry.lock();
            self.check_local(&sessions, &domain)?;
            let now = now_secs();
            let record = SessionRecord {
                namespace: id.namespace(),
                id: id.clone(),
                start_url: valid.url.to_string(),
                domain: domain.clone(),
                status: SessionStatus::Running,
                created_at: now,
                updated_at: now,
                finished_at: None,
                max_pages: valid.max_pages,
                max_depth: valid.max_depth,
                include: valid.include.clone(),
                exclude: valid.exclude.clone(),
                subdomains: valid.subdomains,
                counters: Counters::default(),
                images_indexed: 0,
                images_embedded: 0,
                images_analysed: 0,
                images_too_small: 0,
                images_missing: 0,
                current_url: String::new(),
                stop: None,
                errors: Vec::new(),
                message: self.inner.embedder.as_ref().err().map(|e| format!("keyword search only: {e}")),
                elapsed_ms: 0,
                timings: None,
            };
            let _ = outgoing.send(Outgoing::Record(record.clone()));
            let live = Live { events, cancel: crawler.cancel_handle(), outgoing, lock: lock.clone() };
            sessions.insert(id, Entry { record: record.clone(), live: Some(live), persisted_at: now });
            record
        };
        if let Err(e) = registry.store().save(&record) {
            registry.lock().remove(&record.id);
            return Err(e);
        }
        tokio::spawn(publisher(registry.cluster.clone(), record.id.clone(), domain, lock, publisher_rx));
        tracing::info!(session = %record.id, url = %record.start_url, "crawl started");
        match &self.inner.cluster {
            Some(cluster) => {
                tokio::spawn(cluster.clone().run(registry.clone(), record.id.clone(), valid.clone(), crawler));
            }
            None => {
                let pipeline =
                    super::pipeline::Pipeline { registry: registry.clone(), ingest: self.inner.ingest.clone() };
                tokio::spawn(pipeline.run(record.id.clone(), record.namespace.clone(), crawler));
            }
        }
        Ok(record)
    }

    fn crawler(&self, v: &ValidCrawl) -> Crawler {
        crawler_for(&self.inner.crawler, v)
    }

    /// Cancels a running crawl (on whichever replica runs it); what it indexed so far stays
    /// searchable.
    pub async fn cancel(&self, id: &SessionId) -> Result<SessionRecord> {
        if self.inner.registry.cancel_local(id) {
            return self.get(id).await;
        }
        let record = self.get(id).await?;
        if !record.status.is_running() {
            return Err(Error::Conflict(format!("session {id} is not running (it is {})", record.status.as_str())));
        }
        match self.inner.registry.cluster.request_cancel(id).await {
            Ok(true) => Ok(record),
            Ok(false) => Err(Error::Conflict(format!("session {id} is not running here"))),
            Err(e) => Err(Error::Capacity(format!("cannot reach the replica running session {id}: {e}"))),
        }
    }

    /// A session of this process, or (with Redis) of any replica. A session whose owner stopped
    /// sending heartbeats is reported as interrupted.
    pub async fn get(&self, id: &SessionId) -> Result<SessionRecord> {
        if let Some(r) = self.inner.registry.snapshot(id) {
            return Ok(r);
        }
        let cluster = &self.inner.registry.cluster;
        let mut record = cluster.get(id).await.ok().flatten().ok_or_else(|| not_found(id))?;
        if record.status.is_running() && !cluster.is_running(id).await.unwrap_or(true) {
            record.status = SessionStatus::Interrupted;
            record.message = Some("the replica running this crawl stopped".into());
        }
        Ok(record)
    }

    /// Sessions of this process only, newest first.
    pub fn list_local(&self) -> Vec<SessionRecord> {
        let mut all: Vec<SessionRecord> = self.inner.registry.lock().values().map(|e| e.record.clone()).collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        all
    }

    /// Every session (of every replica with Redis), newest first.
    pub async fn list(&self) -> Vec<SessionRecord> {
        let mut all = self.list_local();
        match self.inner.registry.cluster.list(1_000).await {
            Ok(remote) => {
                let known: std::collections::HashSet<SessionId> = all.iter().map(|r| r.id.clone()).collect();
                all.extend(remote.into_iter().filter(|r| !known.contains(&r.id)));
                all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
            }
            Err(e) => tracing::debug!("listing sessions of other replicas failed: {e}"),
        }
        all
    }

    /// The session's state now and its events from now on, wherever it runs.
    pub async fn subscribe(&self, id: &SessionId) -> Result<Subscription> {
        {
            let sessions = self.inner.registry.lock();
            if let Some(entry) = sessions.get(id) {
                return Ok(Subscription {
                    record: entry.record.clone(),
                    events: entry.live.as_ref().map(|l| l.events.subscribe()),
                });
            }
        }
        // Subscribe before reading the record, so no event falls between the two.
        let events = self.inner.registry.cluster.follow(id).await.ok();
        let record = self.get(id).await?;
        let events = if record.status.is_running() { events } else { None };
        Ok(Subscription { record, events })
    }

    /// Crawls running now.
    pub fn running(&self) -> usize {
        self.inner.registry.lock().values().filter(|e| e.live.is_some()).count()
    }

    /// Marks a session used (a search of it), so idle expiry counts from now.
    pub fn touch(&self, id: &SessionId) {
        let to_save = {
            let mut sessions = self.inner.registry.lock();
            let Some(entry) = sessions.get_mut(id) else { return };
            let now = now_secs();
            entry.record.updated_at = now;
            // Sessions live for days: saving a search's touch once a minute is plenty.
            (entry.live.is_none() && now >= entry.persisted_at + 60).then(|| {
                entry.persisted_at = now;
                entry.record.clone()
            })
        };
        if let Some(record) = to_save {
            self.inner.registry.save(&record);
        }
    }

    /// Deletes sessions idle for longer than `sessions.idle_ttl_secs` at `now` (Unix seconds),
    /// with their index data. Running sessions are never expired.
    pub async fn expire_idle_at(&self, now: u64) -> Result<Vec<SessionId>> {
        let ttl = self.inner.settings.sessions.idle_ttl_secs;
        let registry = &self.inner.registry;
        let expired: Vec<(SessionId, crate::index::Namespace)> = registry
            .lock()
            .values()
            .filter(|e| {
                e.live.is_none() && !e.record.status.is_running() && e.record.updated_at.saturating_add(ttl) <= now
            })
            .map(|e| (e.record.id.clone(), e.record.namespace.clone()))
            .collect();
        for (id, namespace) in &expired {
            self.inner.index.delete_namespace(namespace).await?;
            registry.store().remove(id)?;
            if let Err(e) = registry.cluster.remove(id).await {
                tracing::warn!(session = %id, "could not remove the expired session from the shared store: {e}");
            }
            registry.lock().remove(id);
            tracing::info!(session = %id, "idle session expired; its images were deleted");
        }
        Ok(expired.into_iter().map(|(id, _)| id).collect())
    }

    /// Checks for idle sessions in the background, a few times per TTL (at most every 5 min).
    pub fn spawn_expiry(&self) -> tokio::task::JoinHandle<()> {
        let manager = self.clone();
        let ttl = self.inner.settings.sessions.idle_ttl_secs;
        let every = Duration::from_secs((ttl / 4).clamp(1, 300));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = manager.expire_idle_at(now_secs()).await {
                    tracing::error!("session expiry failed: {e}");
                }
            }
        })
    }
}

/// A crawler of a valid request: the product's, with the request's limits and rules.
fn crawler_for(make: &Arc<dyn Fn(url::Url) -> Crawler + Send + Sync>, v: &ValidCrawl) -> Crawler {
    make(v.url.clone())
        .max_pages(v.max_pages)
        .max_depth(v.max_depth)
        .include(v.include.clone())
        .exclude(v.exclude.clone())
        .subdomains(v.subdomains)
        .render(v.render)
}

fn at_capacity(running: usize, max: usize) -> Error {
    Error::Capacity(format!(
        "server at capacity: {running} crawls are running (the limit is {max}); try again when one finishes"
    ))
}

fn domain_locked(domain: &str, holder: &str) -> Error {
    Error::Conflict(format!("a crawl of {domain} is already running (session {holder}); wait for it or cancel it"))
}

fn not_found(id: &str) -> Error {
    let shown: String = id.chars().take(64).collect();
    Error::NotFound(format!("no session {shown:?}"))
}

/// The host a domain lock is taken on: lower case, without a leading `www.`.
fn domain_of(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    host.strip_prefix("www.").map(str::to_string).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_name_their_namespace_and_nothing_else_parses() {
        let id = SessionId::new();
        assert_eq!(super::super::session_of(id.namespace().as_str()), Some(id.clone()));
        assert_eq!(super::super::session_of("example-org"), None);
        assert!(SessionId::parse("../../etc/passwd").is_err());
        assert!(serde_json::from_str::<SessionId>("\"nope\"").is_err());
    }

    #[test]
    fn domains_ignore_case_and_www() {
        let d = |u: &str| domain_of(&u.parse().unwrap());
        assert_eq!(d("https://WWW.Example.org/a"), "example.org");
        assert_eq!(d("http://127.0.0.1:8080/"), "127.0.0.1");
    }
}
