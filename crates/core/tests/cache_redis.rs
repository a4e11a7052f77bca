//! The cache layers against a real Redis (`redis-server`, started here so it can be killed):
//! every layer shared across instances, expiry, metrics, a Redis that is down at start or dies
//! mid-use (fast fallback, errors counted), and recovery when it returns. Plus the query layer's
//! invalidation when the index changes (no Redis needed).

use std::sync::Arc;
use std::time::{Duration, Instant};

use image_chat_core::cache::{CacheLayers, Layer};
use image_chat_core::config::{CacheSettings, Secret};
use image_chat_core::embed::Embedder;
use image_chat_core::extract::{ImageContext, ImageRecord, ImageSource, ImageVariant};
use image_chat_core::index::{ImageIndex, Namespace, SqliteIndex};
use image_chat_core::search::cached::search;
use image_chat_core::search::engine::SearchEngine;
use image_chat_fixtures::redis_server;

const TIMEOUT_MS: u64 = 200;

fn layers(url: &str) -> CacheLayers {
    let settings =
        CacheSettings { redis_url: Some(Secret::new(url)), redis_timeout_ms: TIMEOUT_MS, ..CacheSettings::default() };
    CacheLayers::new(&settings).unwrap()
}

fn each(l: &CacheLayers) -> [&Layer; 4] {
    [&l.parser, &l.query, &l.embedding, &*l.html]
}

#[tokio::test]
async fn every_layer_is_shared_through_redis_and_expires() {
    let Some(server) = redis_server::own_or_skip() else { return };
    let (a, b) = (layers(&server.url()), layers(&server.url()));
    for (la, lb) in each(&a).into_iter().zip(each(&b)) {
        assert_eq!(lb.get("k").await, None, "{}", la.name());
        la.set("k", format!("value of {}", la.name()).into_bytes(), Duration::from_secs(60)).await;
        // Another process (fresh in-process layer) finds it in Redis.
        assert_eq!(lb.get("k").await, Some(format!("value of {}", la.name()).into_bytes()));
        la.set("short", b"x".to_vec(), Duration::from_millis(150)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(lb.get("short").await, None, "{} entry expired in Redis", la.name());
        let report = lb.report().await;
        assert_eq!(report.backend, "memory+redis");
        assert_eq!((report.metrics.hits, report.metrics.misses, report.metrics.errors), (1, 2, 0), "{}", la.name());
        assert!(report.metrics.hit_rate > 0.3 && report.metrics.hit_rate < 0.34);
    }
    // Layers keep to their own keys.
    a.parser.set("only-parser", b"1".to_vec(), Duration::from_secs(60)).await;
    assert_eq!(b.query.get("only-parser").await, None);
}

#[tokio::test]
async fn a_redis_down_at_start_fails_nothing_and_costs_at_most_the_timeout() {
    let (_reserved, closed) = image_chat_fixtures::refused_port();
    let l = layers(&format!("redis://127.0.0.1:{closed}/0"));
    let started = Instant::now();
    l.query.set("k", b"v".to_vec(), Duration::from_secs(60)).await;
    assert_eq!(l.query.get("k").await, Some(b"v".to_vec()), "the in-process layer answers alone");
    assert_eq!(l.query.get("other").await, None);
    assert!(started.elapsed() < Duration::from_millis(3 * TIMEOUT_MS + 300), "{:?}", started.elapsed());
    assert!(l.query.report().await.metrics.errors >= 1);
}

#[tokio::test]
async fn a_redis_killed_mid_use_is_survived_counted_and_used_again_when_back() {
    let Some(mut server) = redis_server::own_or_skip() else { return };
    let (a, b) = (layers(&server.url()), layers(&server.url()));
    a.embedding.set("before", b"1".to_vec(), Duration::from_secs(60)).await;
    assert_eq!(b.embedding.get("before").await, Some(b"1".to_vec()));

    server.kill();
    let started = Instant::now();
    a.embedding.set("during", b"2".to_vec(), Duration::from_secs(60)).await;
    assert_eq!(a.embedding.get("during").await, Some(b"2".to_vec()), "served in-process");
    assert_eq!(b.embedding.get("during").await, None);
    for i in 0..20 {
        assert_eq!(b.embedding.get(&format!("missing-{i}")).await, None);
    }
    // 22 calls against a dead Redis: each bounded by the timeout, most refused at once.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let errors = b.embedding.report().await.metrics.errors;
    assert!(errors >= 1, "errors are counted");

    server.restart().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        a.embedding.set("after", b"3".to_vec(), Duration::from_secs(60)).await;
        if b.embedding.get("after").await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "Redis was not used again after it came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Fake;

impl Embedder for Fake {
    fn embed(&self, texts: &[&str]) -> image_chat_core::Result<Vec<Vec<f32>>> {
        // Pseudo-random unit vectors from the text's bytes: different texts point elsewhere.
        Ok(texts
            .iter()
            .map(|t| {
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                let v: Vec<f32> = (0..8)
                    .map(|i| {
                        for b in t.bytes().chain([i as u8]) {
                            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                        }
                        (h >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
    fn model_id(&self) -> &str {
        "fake-v1"
    }
    fn dimension(&self) -> usize {
        8
    }
}

fn record(path: &str, alt: &str) -> ImageRecord {
    let url = url::Url::parse(&format!("http://shop.test{path}")).unwrap();
    ImageRecord {
        found_by: Default::default(),
        facts: None,
        page_url: url::Url::parse("http://shop.test/").unwrap(),
        source: ImageSource::Img,
        variants: vec![ImageVariant {
            url: url.clone(),
            width: None,
            height: None,
            density: None,
            media: None,
            mime: None,
        }],
        url,
        context: ImageContext { alt: alt.into(), ..ImageContext::default() },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_results_are_invalidated_when_the_namespace_changes() {
    let index = Arc::new(SqliteIndex::open_in_memory().unwrap());
    let fake: Arc<dyn Embedder> = Arc::new(Fake);
    let vector = |t: &str| fake.embed(&[t]).unwrap().pop();
    index
        .upsert(&Namespace::parse("shop").unwrap(), &[(record("/a.png", "a red bicycle"), vector("a red bicycle"))])
        .unwrap();
    let engine = Arc::new(SearchEngine::new(index.clone() as Arc<dyn ImageIndex>, Ok(fake.clone())));
    let caches = CacheLayers::new(&CacheSettings::default()).unwrap();
    let ns = vec![Namespace::parse("shop").unwrap()];

    let (first, hits) = search(&engine, &caches, None, "red bicycle", ns.clone(), None).await.unwrap();
    assert_eq!(first.results.len(), 1);
    assert!(!hits.query && !hits.parser);
    let (_, hits) = search(&engine, &caches, None, "  red   bicycle ", ns.clone(), None).await.unwrap();
    assert!(hits.parser && hits.query, "same message, normalized: served from the cache");

    // A new image in the namespace: the cached answer is not served any more.
    index
        .upsert(&Namespace::parse("shop").unwrap(), &[(record("/b.png", "a blue bicycle"), vector("a blue bicycle"))])
        .unwrap();
    let (after, hits) = search(&engine, &caches, None, "red bicycle", ns.clone(), None).await.unwrap();
    assert!(!hits.query && hits.parser && hits.embedding);
    assert_eq!(after.results.len(), 2);
    // Another namespace changing does not invalidate this one's results.
    index.upsert(&Namespace::parse("elsewhere").unwrap(), &[(record("/c.png", "a green car"), None)]).unwrap();
    let (_, hits) = search(&engine, &caches, None, "red bicycle", ns, None).await.unwrap();
    assert!(hits.query);
    let q = caches.query.report().await.metrics;
    assert_eq!((q.hits, q.misses), (2, 2));
}
