//! The composition root: every seam built from the settings in one place — the index by
//! `store.kind`, the caches (in-process, in front of Redis when configured), the embedder by
//! `model.backend`, the fetcher, the query parser by `search.parser`, the conversation store,
//! the ingest stage and the session manager. The server, every CLI command and the tests take
//! the product from here, so a setting means the same everywhere; a kind that is not built is a
//! start-up error naming the setting.
//!
//! The index and the model are opened on first use: a CLI command that needs neither (a crawl
//! without `--index`) loads neither.

use std::sync::{Arc, Mutex};

use url::Url;

use crate::cache::CacheLayers;
use crate::config::{Settings, StoreKind};
use crate::conversation::ConversationStore;
use crate::crawl::{CrawlOptions, Crawler};
use crate::embed::Embedder;
use crate::enrich::Enricher;
use crate::error::Result;
use crate::index::{AnnOptions, ImageIndex, PostgresIndex, SqliteIndex};
use crate::ingest::Ingest;
use crate::net::{Fetcher, RobotsCache};
use crate::render::{BrowserOptions, Chromium, PagePlan, RenderFetcher, find_executable};
use crate::search::chat_parser::ChatParser;
use crate::search::engine::SearchEngine;
use crate::session::{Parts, SessionManager};

/// How the index is used, which decides how it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexUse {
    /// A server: graphs for large namespaces are built in the background and kept.
    Serve,
    /// One command, then exit: an exact scan (tens of ms even at a million images) beats
    /// loading or building a graph; the server builds them when it next opens the index.
    OneShot,
    /// In memory only, for a throwaway run (the end-to-end evaluation).
    InMemory,
}

pub struct Services {
    settings: Arc<Settings>,
    index_use: IndexUse,
    caches: Arc<CacheLayers>,
    fetcher: Arc<dyn Fetcher>,
    chat_parser: Option<Arc<ChatParser>>,
    /// The shared browser, started on the first render.
    chromium: Arc<Chromium>,
    index: Mutex<Option<Arc<dyn ImageIndex>>>,
    embedder: Mutex<Option<std::result::Result<Arc<dyn Embedder>, String>>>,
}

impl Services {
    /// Builds what every use needs and checks every choice the settings make; the index and
    /// the model wait for their first use.
    pub fn from_settings(settings: Settings, index_use: IndexUse) -> Result<Self> {
        // Settings built in code skip `Settings::load`'s checks; this is where a store is chosen.
        settings.store.check().map_err(|message| crate::Error::Settings { origin: "store".into(), message })?;
        settings.check_distributed().map_err(|message| crate::Error::Settings { origin: "crawler".into(), message })?;
        let caches = Arc::new(CacheLayers::new(&settings.cache)?);
        let fetcher = crate::net::fetcher_from_settings(&settings.crawler)?;
        let chat_parser = ChatParser::from_settings(&settings.search)?.map(Arc::new);
        let c = &settings.crawler;
        let chromium = Arc::new(Chromium::new(BrowserOptions {
            executable: c.chromium_path().map(Into::into),
            tabs: c.render_concurrency,
            relaunch_after: c.render_relaunch_pages,
            user_agent: c.user_agent.clone(),
            allow_hosts: c.allow_hosts.clone(),
        }));
        Ok(Self {
            settings: Arc::new(settings),
            index_use,
            caches,
            fetcher,
            chat_parser,
            chromium,
            index: Mutex::new(None),
            embedder: Mutex::new(None),
        })
    }

    /// Uses `embedder` instead of the one `model` names (an evaluation that loaded it already,
    /// a test with a small stand-in).
    pub fn with_embedder(self, embedder: std::result::Result<Arc<dyn Embedder>, String>) -> Self {
        *self.embedder.lock().unwrap_or_else(|e| e.into_inner()) = Some(embedder);
        self
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    pub fn caches(&self) -> &Arc<CacheLayers> {
        &self.caches
    }

    /// The fetch seam every page, sitemap, robots.txt and image is fetched through.
    pub fn fetcher(&self) -> &Arc<dyn Fetcher> {
        &self.fetcher
    }

    /// The language-model query parser when `search.parser = "chat"`; the rules otherwise.
    pub fn chat_parser(&self) -> Option<&Arc<ChatParser>> {
        self.chat_parser.as_ref()
    }

    /// The image index `store.kind` names, opened on first use.
    pub fn index(&self) -> Result<Arc<dyn ImageIndex>> {
        let mut slot = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = &*slot {
            return Ok(index.clone());
        }
        let index: Arc<dyn ImageIndex> = match (self.settings.store.kind, self.index_use) {
            // The database is the store whatever the use: it is shared, never in memory.
            (StoreKind::Postgres, _) => Arc::new(PostgresIndex::connect(&self.settings.store)?),
            (StoreKind::Embedded, IndexUse::Serve) => Arc::new(SqliteIndex::open_configured(&self.settings)?),
            (StoreKind::Embedded, IndexUse::OneShot) => {
                let exact = AnnOptions { min_vectors: usize::MAX, ..AnnOptions::default() };
                Arc::new(SqliteIndex::open_configured(&self.settings)?.with_ann(exact))
            }
            (StoreKind::Embedded, IndexUse::InMemory) => {
                let exact = AnnOptions { min_vectors: usize::MAX, ..AnnOptions::default() };
                Arc::new(SqliteIndex::open_in_memory()?.with_ann(exact))
            }
        };
        *slot = Some(index.clone());
        Ok(index)
    }

    /// The embedder `model.backend` names, loaded on first use, or why it cannot be (search
    /// then works by keywords and images are stored for keywords only).
    pub fn embedder(&self) -> std::result::Result<Arc<dyn Embedder>, String> {
        let mut slot = self.embedder.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| {
            crate::embed::load(&self.settings.model).map_err(|e| {
                tracing::warn!("{e}; search works by keywords only");
                e.to_string()
            })
        })
        .clone()
    }

    /// The search engine over the index and the embedder, with the settings' format preference.
    pub fn engine(&self) -> Result<Arc<SearchEngine>> {
        let engine = SearchEngine::new(self.index()?, self.embedder());
        Ok(Arc::new(engine.with_format_preference(self.settings.search.formats())))
    }

    /// Where conversations are kept: Redis when configured, the data dir otherwise.
    pub fn conversations(&self) -> Result<Arc<dyn ConversationStore>> {
        crate::conversation::store_from_settings(&self.settings, &self.caches)
    }

    /// The image analysis `crawler.analyze_images` asks for, fetching through the fetcher and
    /// asking robots.txt first when `crawler.respect_robots_txt` is on.
    fn enricher(&self) -> Option<Enricher> {
        let crawler = &self.settings.crawler;
        crawler.analyze_images.then(|| {
            let robots = crawler.respect_robots_txt.then(|| Arc::new(RobotsCache::new(self.fetcher.clone())));
            Enricher::new(self.fetcher.clone(), crawler.per_host_concurrency, robots)
        })
    }

    /// What becomes of an image before it can be found: analysis, the too-small left out,
    /// embedding through the embedding cache, the index.
    pub fn ingest(&self) -> Result<Ingest> {
        let retry = std::time::Duration::from_millis(self.settings.store.outage_retry_ms);
        Ok(Ingest::new(self.index()?, self.embedder(), self.caches.clone(), self.enricher()).with_outage_retry(retry))
    }

    /// The shared browser (its state for `/health`).
    pub fn chromium(&self) -> &Arc<Chromium> {
        &self.chromium
    }

    /// A renderer for one crawl (a browser context of its own), or why there is none: the
    /// browser is not installed.
    pub fn renderer(&self) -> std::result::Result<Arc<dyn Fetcher>, String> {
        let c = &self.settings.crawler;
        find_executable(self.chromium.options().executable.as_deref()).map_err(|e| e.to_string())?;
        let plan = PagePlan {
            budget: std::time::Duration::from_millis(c.render_timeout_ms),
            extra_wait: std::time::Duration::from_millis(c.render_wait_ms),
            ..PagePlan::default()
        };
        Ok(Arc::new(RenderFetcher::new(self.chromium.clone(), plan, self.fetcher.clone())))
    }

    /// A crawler of `start` with the settings' options, the fetcher, the renderer and the HTML
    /// cache where one can be read again.
    pub fn crawler(&self, start: Url) -> Crawler {
        let crawler = Crawler::with_options(start, CrawlOptions::from_settings(&self.settings.crawler))
            .fetcher(self.fetcher.clone());
        let crawler = if self.pages_outlive_the_crawl() { crawler.cache(self.caches.html.clone()) } else { crawler };
        let renderer = self.renderer();
        if let Err(why) = &renderer
            && self.settings.crawler.render == crate::render::RenderMode::Auto
        {
            tracing::warn!("render = auto, but {why}: pages are not rendered");
        }
        crawler.renderer(renderer)
    }

    /// Whether a page put in the HTML cache can be read by a later crawl: in a server, or where
    /// Redis keeps it. A one-shot command's in-process cache dies with the process, and within
    /// one crawl a page is fetched once, so writing it there was a copy of every page for
    /// nothing (a twentieth of a crawl's CPU, and its memory).
    pub fn pages_outlive_the_crawl(&self) -> bool {
        self.index_use == IndexUse::Serve || self.caches.redis().is_some()
    }

    /// The session manager over these services (Redis-shared when configured), with the
    /// sessions kept in the data dir restored.
    pub async fn sessions(self: &Arc<Self>) -> Result<SessionManager> {
        let services = self.clone();
        SessionManager::open(Parts {
            settings: self.settings.clone(),
            index: self.index()?,
            embedder: self.embedder(),
            ingest: self.ingest()?,
            crawler: Arc::new(move |start| services.crawler(start)),
            shared: crate::session::shared_store(&self.caches),
            redis: self.caches.redis().cloned(),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn services(index_use: IndexUse, redis: bool) -> Services {
        let mut settings = Settings::default();
        // Never connected to here: the layers only connect on their first call.
        settings.cache.redis_url = redis.then(|| Secret::new("redis://127.0.0.1:1/"));
        Services::from_settings(settings, index_use).unwrap()
    }

    #[test]
    fn pages_are_cached_only_where_a_later_crawl_can_read_them() {
        assert!(services(IndexUse::Serve, false).pages_outlive_the_crawl());
        assert!(services(IndexUse::Serve, true).pages_outlive_the_crawl());
        assert!(services(IndexUse::OneShot, true).pages_outlive_the_crawl());
        assert!(!services(IndexUse::OneShot, false).pages_outlive_the_crawl());
        assert!(!services(IndexUse::InMemory, false).pages_outlive_the_crawl());
    }
}
