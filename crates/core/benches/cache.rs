//! What the cache layers buy, measured (median of several runs):
//!
//! 1. a repeat crawl of a 1,000-page fixture site with the HTML cache warm vs cold, with no
//!    network latency and with 20 ms per response (a fast real site);
//! 2. a repeat chat query warm vs cold (parser + query + embedding layers; real model);
//! 3. the embedding cache on a crawl whose alt texts repeat heavily (the sanctuaries mirror).
//!
//! Run: `cargo bench -p image-chat-core --bench cache`. With `IMAGE_CHAT_TEST_REDIS_URL` set,
//! the crawl is also measured warm in Redis only (a fresh replica's in-process layer).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image_chat_core::cache::CacheLayers;
use image_chat_core::config::{CacheSettings, ModelSettings, Secret};
use image_chat_core::crawl::Crawler;
use image_chat_core::embed::{Embedder, embed_cached, image_text};
use image_chat_core::extract::ImageRecord;
use image_chat_core::index::{ImageIndex, Namespace, SqliteIndex};
use image_chat_core::search::cached::search;
use image_chat_core::search::engine::SearchEngine;
use image_chat_fixtures::shared::shared_data_dir;
use image_chat_fixtures::{FixtureConfig, FixtureServer, SiteSpec};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn crawl(server: &FixtureServer, layers: &Arc<CacheLayers>) -> (Duration, Vec<ImageRecord>, u64) {
    let crawler = Crawler::new(server.url("/").parse().unwrap())
        .allow_hosts(["127.0.0.1"])
        .max_pages(5_000)
        .max_depth(50)
        .cache(layers.html.clone());
    let mut images = Vec::new();
    let started = Instant::now();
    let summary = crawler.run(|p| images.extend(p.images)).await;
    (started.elapsed(), images, summary.counters.pages_from_cache)
}

async fn bench_crawl(latency_ms: u64) {
    let mut config = FixtureConfig::generated(SiteSpec { pages: 1_000, seed: 42, traps: false });
    config.latency = Duration::from_millis(latency_ms);
    let server = FixtureServer::start(config).await.unwrap();
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let mut from_cache = 0;
    let mut requests = 0;
    for _ in 0..3 {
        let layers = Arc::new(CacheLayers::new(&CacheSettings::default()).unwrap());
        cold.push(crawl(&server, &layers).await.0);
        let before = server.requests().len();
        let (t, _, cached) = crawl(&server, &layers).await;
        requests = server.requests().len() - before;
        warm.push(t);
        from_cache = cached;
    }
    let (c, w) = (median(cold), median(warm));
    println!(
        "crawl 1,000 pages, {latency_ms} ms latency: cold {}  warm {}  ({from_cache} pages from cache, {requests} requests)  warm/cold speed-up {:.1}x",
        ms(c),
        ms(w),
        c.as_secs_f64() / w.as_secs_f64()
    );
    if let Ok(url) = std::env::var("IMAGE_CHAT_TEST_REDIS_URL") {
        let settings = CacheSettings { redis_url: Some(Secret::new(url)), ..CacheSettings::default() };
        let mut remote = Vec::new();
        let mut remote_requests = 0;
        for _ in 0..3 {
            // Unique keys per run: version the site by seed is not possible, so flush by using a
            // fresh writer layer first (cold into Redis), then a fresh reader (warm in Redis only).
            let writer = Arc::new(CacheLayers::new(&settings).unwrap());
            crawl(&server, &writer).await;
            let reader = Arc::new(CacheLayers::new(&settings).unwrap());
            let before = server.requests().len();
            remote.push(crawl(&server, &reader).await.0);
            remote_requests = server.requests().len() - before;
        }
        let r = median(remote);
        println!(
            "crawl 1,000 pages, {latency_ms} ms latency: warm in Redis only (fresh replica) {}  ({remote_requests} requests)  speed-up {:.1}x",
            ms(r),
            c.as_secs_f64() / r.as_secs_f64()
        );
    }
}

fn model() -> Option<Arc<dyn Embedder>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    match image_chat_core::embed::load(&ModelSettings { dir, ..ModelSettings::default() }) {
        Ok(m) => Some(m),
        Err(e) => {
            println!("query and embedding benchmarks skipped: {e}");
            None
        }
    }
}

async fn bench_query(embedder: Arc<dyn Embedder>) {
    // An index of a 1,000-page site's images, embedded with the real model.
    let server = FixtureServer::start(FixtureConfig::generated(SiteSpec { pages: 1_000, seed: 42, traps: false }))
        .await
        .unwrap();
    let layers = Arc::new(CacheLayers::new(&CacheSettings::default()).unwrap());
    let (_, images, _) = crawl(&server, &layers).await;
    let texts: Vec<String> = images.iter().map(|r| image_text(&r.context)).collect();
    let (vectors, _) = embed_cached(embedder.clone(), &layers.embedding, &texts).await.unwrap();
    let index = Arc::new(SqliteIndex::open_in_memory().unwrap());
    let items: Vec<_> = images.into_iter().zip(vectors.into_iter().map(Some)).collect();
    let site = Namespace::parse("site").unwrap();
    index.upsert(&site, &items).unwrap();
    let engine = Arc::new(SearchEngine::new(index as Arc<dyn ImageIndex>, Ok(embedder)));
    let queries: Vec<String> = texts
        .iter()
        .step_by(texts.len() / 50)
        .take(50)
        .map(|t| format!("photos of {}", t.split_whitespace().take(4).collect::<Vec<_>>().join(" ")))
        .collect();
    let ns = vec![site];
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for q in &queries {
        let fresh = CacheLayers::new(&CacheSettings::default()).unwrap();
        let started = Instant::now();
        let (_, hits) = search(&engine, &fresh, None, q, ns.clone(), Some(20)).await.unwrap();
        cold.push(started.elapsed());
        assert!(!hits.query);
        let started = Instant::now();
        let (_, hits) = search(&engine, &fresh, None, q, ns.clone(), Some(20)).await.unwrap();
        warm.push(started.elapsed());
        assert!(hits.query);
    }
    let (c, w) = (median(cold), median(warm));
    println!(
        "chat query over {} images ({} queries): cold {}  warm {:.3} ms  speed-up {:.0}x",
        texts.len(),
        queries.len(),
        ms(c),
        w.as_secs_f64() * 1e3,
        c.as_secs_f64() / w.as_secs_f64()
    );
}

async fn bench_embedding(embedder: Arc<dyn Embedder>) {
    let Some(data) = shared_data_dir() else {
        println!("embedding cache benchmark skipped: ../shared/data is absent");
        return;
    };
    let root = data.join("sites/sanctuaries.marinebon.org");
    let server = FixtureServer::start(FixtureConfig::folder(&root, "https://sanctuaries.marinebon.org")).await.unwrap();
    let mut texts = Vec::new();
    for start in ["/", "/events/"] {
        let crawler =
            Crawler::new(server.url(start).parse().unwrap()).allow_hosts(["127.0.0.1"]).max_pages(2_000).max_depth(20);
        let mut images = Vec::new();
        crawler.run(|p| images.extend(p.images)).await;
        texts.extend(images.iter().map(|r| image_text(&r.context)).filter(|t| !t.is_empty()));
    }
    let batches: Vec<&[String]> = texts.chunks(128).collect();
    let started = Instant::now();
    for b in &batches {
        let refs: Vec<&str> = b.iter().map(String::as_str).collect();
        embedder.embed(&refs).unwrap();
    }
    let without = started.elapsed();
    let layers = CacheLayers::new(&CacheSettings::default()).unwrap();
    let started = Instant::now();
    let (mut cached, mut embedded) = (0, 0);
    for b in &batches {
        let (_, (c, e)) = embed_cached(embedder.clone(), &layers.embedding, b).await.unwrap();
        cached += c;
        embedded += e;
    }
    let with = started.elapsed();
    println!(
        "embedding the sanctuaries crawl's {} image texts: without cache {}  with cache {} ({embedded} embedded, {cached} from cache, the rest repeats within a batch)  speed-up {:.1}x",
        texts.len(),
        ms(without),
        ms(with),
        without.as_secs_f64() / with.as_secs_f64()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        bench_crawl(0).await;
        bench_crawl(20).await;
        if let Some(m) = model() {
            bench_query(m.clone()).await;
            bench_embedding(m).await;
        }
    });
}
