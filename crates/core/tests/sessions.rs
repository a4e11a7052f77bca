//! Crawl sessions against a local fixture site: the streaming pipeline to a searchable index,
//! capacity and domain rules, cancel, restart and idle expiry.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use image_chat_core::config::{DomainPolicy, ModelSettings};
use image_chat_core::embed::Embedder;
use image_chat_core::index::ImageIndex;
use image_chat_core::search::engine::SearchEngine;
use image_chat_core::services::{IndexUse, Services};
use image_chat_core::session::{CrawlRequest, SessionEvent, SessionId, SessionManager, SessionStatus};
use image_chat_core::{Error, Settings};
use image_chat_fixtures::{FixtureConfig, FixtureServer, SiteSpec};

const HANG_GUARD: Duration = Duration::from_secs(120);

fn embedder() -> Result<Arc<dyn Embedder>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let model = ModelSettings { dir, ..ModelSettings::default() };
    image_chat_core::embed::load(&model).map_err(|e| {
        assert!(std::env::var_os("IMAGE_CHAT_REQUIRE_SERVICES").is_none(), "scripts/test.sh fetched no model: {e}");
        eprintln!("model absent ({e}): sessions index for keyword search only");
        e.to_string()
    })
}

fn settings(data: &Path, configure: impl FnOnce(&mut Settings)) -> Arc<Settings> {
    let mut s = Settings { data_dir: data.to_path_buf(), ..Settings::default() };
    s.crawler.allow_hosts = vec!["127.0.0.1".into(), "localhost".into()];
    configure(&mut s);
    Arc::new(s)
}

/// The product as the server builds it (the composition root), over `settings`.
async fn open(settings: &Arc<Settings>) -> (SessionManager, Arc<dyn ImageIndex>) {
    let services = Services::from_settings((**settings).clone(), IndexUse::Serve).unwrap().with_embedder(embedder());
    let services = Arc::new(services);
    (services.sessions().await.unwrap(), services.index().unwrap())
}

fn crawl(url: String, max_pages: u32) -> CrawlRequest {
    CrawlRequest { url, max_pages: Some(max_pages), max_depth: Some(20), ..CrawlRequest::default() }
}

async fn site(pages: u32) -> FixtureServer {
    FixtureServer::start(FixtureConfig::generated(SiteSpec { pages, seed: 5, traps: false })).await.unwrap()
}

/// Follows a session's bus to its `Done` event; returns the events seen.
async fn follow(manager: &SessionManager, id: &SessionId) -> Vec<SessionEvent> {
    let sub = manager.subscribe(id).await.unwrap();
    // A short crawl may be over before we look: its record is then final.
    let Some(mut events) = sub.events else { return vec![SessionEvent::Done { record: Box::new(sub.record) }] };
    let mut seen = Vec::new();
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    let done = matches!(e, SessionEvent::Done { .. });
                    seen.push(e);
                    if done {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("bus closed without Done: {e}"),
            }
        }
    })
    .await
    .expect("the session ended");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_crawls_indexes_and_becomes_searchable() {
    let server = site(60).await;
    let data = tempfile::tempdir().unwrap();
    // Slow enough that the bus is subscribed before the crawl ends.
    let (manager, index) = open(&settings(data.path(), |s| {
        s.crawler.per_host_delay_ms = 20;
        s.crawler.per_host_concurrency = 1;
    }))
    .await;
    let record = manager.start(&crawl(server.url("/"), 500)).await.unwrap();
    assert_eq!(record.status, SessionStatus::Running);
    assert!(record.namespace.as_str().starts_with("s-"));
    let events = follow(&manager, &record.id).await;

    // Progress counters only go up.
    let fetched: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Progress { counters, .. } => Some(counters.pages_fetched),
            _ => None,
        })
        .collect();
    assert!(!fetched.is_empty() && fetched.windows(2).all(|w| w[0] <= w[1]), "{fetched:?}");
    let Some(SessionEvent::Done { record: done }) = events.last() else { panic!("no Done") };
    assert_eq!(done.status, SessionStatus::Finished, "{:?}", done.message);
    assert_eq!(done.stop, Some(image_chat_core::crawl::StopReason::Completed));
    assert!(done.counters.pages_fetched >= 60, "{:?}", done.counters);
    assert!(done.images_indexed > 0);
    assert_eq!(done.images_indexed + done.images_too_small + done.images_missing, done.counters.images_kept);
    assert_eq!(index.stats(Some(&done.namespace)).await.unwrap().images, done.images_indexed);

    // Every truth image with alt text is findable in this session's namespace by its words.
    let engine = SearchEngine::new(index.clone(), embedder());
    let truth = server.site().unwrap().truth(1).unwrap();
    let image = truth.images.iter().find(|i| i.alt.split_whitespace().count() >= 3).expect("an image with alt");
    let path = image.url.trim_start_matches("http://fixture.invalid");
    let found = engine.search(&image.alt, std::slice::from_ref(&done.namespace), Some(20)).await.unwrap();
    assert!(found.results.iter().any(|r| r.url.ends_with(path)), "{path} not found for {:?}", image.alt);

    // Images were fetched and read: a `.webp` URL that serves PNG bytes is a PNG, found as one.
    assert!(
        done.images_analysed > 0 && done.images_analysed <= done.images_indexed + done.images_too_small,
        "{done:?}"
    );
    let pages = server.site().unwrap().all_truth();
    let webp = pages
        .iter()
        .flat_map(|p| &p.images)
        .find(|i| i.url.ends_with(".webp") && !i.repeated && i.alt.split_whitespace().count() >= 3);
    let webp = webp.expect("the fixture site has a .webp image with a description");
    let path = webp.url.trim_start_matches("http://fixture.invalid");
    let query = format!("PNG images of {}", webp.alt);
    let found = engine.search(&query, std::slice::from_ref(&done.namespace), Some(50)).await.unwrap();
    assert!(found.results.iter().all(|r| r.format == Some(image_chat_core::search::ImageFormat::Png)));
    assert!(found.results.iter().any(|r| r.url.ends_with(path)), "{path} (PNG bytes) not found as a PNG");

    // The record on disk is final.
    let listed = manager.list().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, SessionStatus::Finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_whose_bytes_show_a_pixel_or_an_icon_or_nothing_are_left_out_and_counted() {
    // Markup gives nothing away: no declared sizes, no telling names. The bytes do (or the
    // server says the image is not there).
    let root = tempfile::tempdir().unwrap();
    let img = root.path().join("img");
    std::fs::create_dir_all(&img).unwrap();
    std::fs::write(img.join("harbour.png"), image_chat_fixtures::images::png(800, 600, 1).bytes).unwrap();
    std::fs::write(img.join("award.png"), image_chat_fixtures::images::png(32, 32, 2).bytes).unwrap();
    std::fs::write(img.join("welcome.gif"), image_chat_fixtures::images::GIF_1X1).unwrap();
    // A soft 404: the CMS answers 200 with a page where the photo was.
    std::fs::write(img.join("regatta.jpg"), "<!DOCTYPE html><html><body>Page not found</body></html>").unwrap();
    std::fs::write(
        root.path().join("index.html"),
        r#"<html><head><title>Harbour</title></head><body>
        <p><img src="/img/harbour.png" alt="Fishing boats in the harbour at dawn"></p>
        <p><img src="/img/award.png" alt="Award for the best harbour photo"></p>
        <p><img src="/img/welcome.gif" alt="Welcome to the harbour"></p>
        <p><img src="/img/regatta.jpg" alt="The summer regatta leaving the harbour"></p>
        <p><img src="/img/removed.jpg" alt="The old harbour crane, since removed"></p></body></html>"#,
    )
    .unwrap();
    let server = FixtureServer::start(FixtureConfig::folder(root.path(), "https://harbour.example")).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let (manager, index) = open(&settings(data.path(), |_| {})).await;
    let started = manager.start(&crawl(server.url("/"), 5)).await.unwrap();
    let events = follow(&manager, &started.id).await;
    let Some(SessionEvent::Done { record: done }) = events.last() else { panic!("no Done") };
    assert_eq!(done.status, SessionStatus::Finished, "{:?}", done.message);
    assert_eq!(done.counters.images_kept, 5, "the markup passes all five: {:?}", done.counters);
    assert_eq!((done.images_indexed, done.images_too_small, done.images_missing), (1, 2, 2), "{done:?}");
    let stored = index.stats(Some(&done.namespace)).await.unwrap();
    assert_eq!(stored.images, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_domain_lock_cancel_and_restart() {
    let server = site(2_000).await;
    let data = tempfile::tempdir().unwrap();
    // Slow enough that the crawls are still running while we test the rules.
    let s = settings(data.path(), |s| {
        s.crawler.per_host_delay_ms = 100;
        s.crawler.per_host_concurrency = 1;
        s.sessions.max_concurrent_crawls = 2;
    });
    let (manager, _) = open(&s).await;
    let first = manager.start(&crawl(server.url("/"), 2_000)).await.unwrap();

    // One crawl per domain: 127.0.0.1 is taken.
    let err = manager.start(&crawl(server.url("/other"), 10)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    assert!(err.to_string().contains(first.id.as_str()), "{err}");

    // Another domain may run; then the server is at capacity.
    let localhost = server.url("/").replace("127.0.0.1", "localhost");
    let second = manager.start(&crawl(localhost, 2_000)).await.unwrap();
    let other = FixtureServer::start(FixtureConfig::generated(SiteSpec::default())).await.unwrap();
    let err = manager.start(&crawl(other.url("/").replace("127.0.0.1", "[::1]"), 10)).await.unwrap_err();
    assert!(matches!(err, Error::Capacity(_) | Error::Invalid(_)), "{err}");
    let err = manager.start(&crawl(server.url("/").replace("127.0.0.1", "127.0.0.2"), 10)).await.unwrap_err();
    assert!(matches!(err, Error::Capacity(_) | Error::Invalid(_)), "{err}");
    assert_eq!(manager.running(), 2);

    // A restart while both run: a new manager over the same data dir sees them interrupted.
    let (after_restart, _) = open(&s).await;
    let restored = after_restart.get(&first.id).await.unwrap();
    assert_eq!(restored.status, SessionStatus::Interrupted);
    assert!(after_restart.cancel(&first.id).await.is_err(), "an interrupted session is not running");

    // Cancel: the session ends as cancelled, with what it indexed kept.
    tokio::time::sleep(Duration::from_millis(300)).await;
    manager.cancel(&first.id).await.unwrap();
    let events = follow(&manager, &first.id).await;
    let Some(SessionEvent::Done { record }) = events.last() else { panic!("no Done") };
    assert_eq!(record.status, SessionStatus::Cancelled);
    assert!(record.counters.pages_fetched < 2_000);
    assert!(matches!(manager.cancel(&first.id).await, Err(Error::Conflict(_))));
    assert!(matches!(SessionId::parse("nope"), Err(Error::NotFound(_))));
    let unknown = SessionId::parse("0123456789abcdef").unwrap();
    assert!(matches!(manager.cancel(&unknown).await, Err(Error::NotFound(_))));

    // With a slot free, the same domain may be crawled again.
    manager.cancel(&second.id).await.unwrap();
    follow(&manager, &second.id).await;
    assert_eq!(manager.running(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_policy_allows_one_domain_twice_in_separate_namespaces() {
    let server = site(20).await;
    let data = tempfile::tempdir().unwrap();
    let (manager, index) = open(&settings(data.path(), |s| s.sessions.domain_policy = DomainPolicy::Parallel)).await;
    let a = manager.start(&crawl(server.url("/"), 20)).await.unwrap();
    let b = manager.start(&crawl(server.url("/"), 5)).await.unwrap();
    assert_ne!(a.namespace, b.namespace);
    follow(&manager, &a.id).await;
    follow(&manager, &b.id).await;
    let (na, nb) = (index.stats(Some(&a.namespace)).await.unwrap(), index.stats(Some(&b.namespace)).await.unwrap());
    assert!(na.images > nb.images && nb.images > 0, "{na:?} {nb:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_expire_with_their_images_and_failures_are_reported() {
    let server = site(10).await;
    let data = tempfile::tempdir().unwrap();
    let (manager, index) = open(&settings(data.path(), |s| s.sessions.idle_ttl_secs = 3_600)).await;
    let record = manager.start(&crawl(server.url("/"), 10)).await.unwrap();
    follow(&manager, &record.id).await;
    assert!(index.stats(Some(&record.namespace)).await.unwrap().images > 0);

    let now = record.created_at;
    assert!(manager.expire_idle_at(now + 60).await.unwrap().is_empty(), "not idle yet");
    let m = manager.clone();
    let expired = m.expire_idle_at(now + 7_200).await.unwrap();
    assert_eq!(expired, vec![record.id.clone()]);
    assert_eq!(index.stats(Some(&record.namespace)).await.unwrap().images, 0);
    assert!(matches!(manager.get(&record.id).await, Err(Error::NotFound(_))));
    assert!(!data.path().join("sessions").join(format!("{}.json", record.id)).exists());

    // A start URL that cannot be fetched ends the session as failed, saying why.
    let (_reserved, closed) = image_chat_fixtures::refused_port();
    let record = manager.start(&crawl(format!("http://127.0.0.1:{closed}/"), 5)).await.unwrap();
    let events = follow(&manager, &record.id).await;
    let Some(SessionEvent::Done { record }) = events.last() else { panic!("no Done") };
    assert_eq!(record.status, SessionStatus::Failed);
    assert!(record.message.as_deref().unwrap_or_default().contains("no page could be crawled"), "{record:?}");
    assert!(!record.errors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_an_interrupted_session_counts_what_the_index_holds() {
    // A crash between the index's batch and the record's next write: the record says 1, the
    // index holds 3.
    let data = tempfile::tempdir().unwrap();
    let s = settings(data.path(), |_| {});
    let (manager, index) = open(&s).await;
    let server = site(5).await;
    let record = manager.start(&crawl(server.url("/"), 5)).await.unwrap();
    follow(&manager, &record.id).await;
    drop(manager);
    let indexed = index.stats(Some(&record.namespace)).await.unwrap();
    assert!(indexed.images >= 2, "{indexed:?}");
    let file = data.path().join("sessions").join(format!("{}.json", record.id));
    let mut stale: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    stale["status"] = "running".into();
    stale["images_indexed"] = 1.into();
    stale["images_embedded"] = 0.into();
    std::fs::write(&file, serde_json::to_vec(&stale).unwrap()).unwrap();

    let (restarted, _) = open(&s).await;
    let restored = restarted.get(&record.id).await.unwrap();
    assert_eq!(restored.status, SessionStatus::Interrupted);
    assert_eq!(restored.images_indexed, indexed.images, "recounted from the index");
    assert_eq!(restored.images_embedded, indexed.vectors);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_page_that_redirects_away_fails_saying_where_it_went() {
    let data = tempfile::tempdir().unwrap();
    let s = settings(data.path(), |_| {});
    let (manager, _) = open(&s).await;
    // To an address the SSRF guard refuses: said so, not "excluded by the rules".
    let private = redirect_server("http://169.254.169.254/latest/meta-data/".into()).await;
    let record = manager.start(&crawl(format!("http://{private}/"), 5)).await.unwrap();
    let Some(SessionEvent::Done { record }) = follow(&manager, &record.id).await.pop() else { panic!("no Done") };
    assert_eq!(record.status, SessionStatus::Failed, "{record:?}");
    let message = record.message.unwrap_or_default();
    assert!(message.contains("redirected to http://169.254.169.254/") && message.contains("refused"), "{message}");
    // Off the site (another host name of the same server): said so, with where to start instead.
    let site = site(3).await;
    let elsewhere = site.url("/").replace("127.0.0.1", "localhost");
    let redirecting = redirect_server(elsewhere.clone()).await;
    let record = manager.start(&crawl(format!("http://{redirecting}/"), 5)).await.unwrap();
    let Some(SessionEvent::Done { record }) = follow(&manager, &record.id).await.pop() else { panic!("no Done") };
    let message = record.message.unwrap_or_default();
    assert!(message.contains(&format!("redirects to {elsewhere}")) && message.contains("outside"), "{message}");
}

/// A server whose start page redirects to `to` (and that has nothing else: no robots.txt, no
/// sitemap).
async fn redirect_server(to: String) -> std::net::SocketAddr {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || {
                let to = to.clone();
                async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }
            }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_and_image_fetches_share_each_hosts_limit_and_the_record_says_where_the_time_went() {
    let mut config = FixtureConfig::generated(SiteSpec { pages: 40, seed: 7, traps: false });
    config.latency = Duration::from_millis(10);
    let server = FixtureServer::start(config).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let (manager, _) = open(&settings(data.path(), |s| s.crawler.per_host_concurrency = 2)).await;
    let started = manager.start(&crawl(server.url("/"), 40)).await.unwrap();
    let events = follow(&manager, &started.id).await;
    let Some(SessionEvent::Done { record: done }) = events.last() else { panic!("no Done") };
    assert_eq!(done.status, SessionStatus::Finished, "{:?}", done.message);
    assert!(done.images_analysed > 20, "{done:?}");
    // Pages and images together never had more than 2 requests at the host at once.
    assert_eq!(server.max_in_flight(), 2, "the per-host limit of 2 holds for pages and images together, and is used");

    let requests = server.requests();
    let first_image = requests.iter().position(|r| r.starts_with("GET /img/")).expect("images were fetched");
    let last_page = requests.iter().rposition(|r| r.starts_with("GET /page/")).expect("pages were fetched");
    assert!(first_image < last_page, "images are analysed while the crawl runs, not after it");

    let t = done.timings.as_ref().expect("a finished session records its timings");
    let counted = requests.iter().filter(|r| !r.ends_with("/robots.txt")).count() as u64;
    assert_eq!(t.floor.host, "127.0.0.1");
    // A slot covers a redirect's hops too, so requests can outnumber slots, never the reverse.
    let slots = t.floor.page_requests + t.floor.image_requests;
    assert!(slots <= counted && slots >= counted * 9 / 10, "every request took a slot: {t:?} {requests:?}");
    assert!(t.floor.image_requests >= done.images_analysed, "{t:?}");
    assert_eq!(t.floor.per_host_concurrency, 2);
    assert!(t.floor.ms >= slots * 10 / 2, "each request took at least the 10 ms latency: {t:?}");
    assert!(t.wall_ms >= t.floor.ms, "nothing beats the floor: {t:?}");
    assert!(t.wall_over_floor >= 1.0);
    let stage = |name: &str| t.stages.iter().find(|s| s.stage == name).unwrap_or_else(|| panic!("no {name}: {t:?}"));
    assert!(stage("fetch_pages").items >= 40 && stage("fetch_pages").busy_ms >= 40 * 10, "{t:?}");
    // Redirects, 404s and sitemaps are fetched but not extracted.
    assert!(stage("extract").items >= 10 && stage("extract").items <= stage("fetch_pages").items, "{t:?}");
    assert_eq!(stage("fetch_images").items, t.floor.image_requests, "{t:?}");
    assert!(stage("decode").items >= done.images_analysed, "{t:?}");
    assert!(stage("embed").items >= 1 && stage("index_write").items >= 1, "{t:?}");
    assert_eq!(stage("render").items, 0);
    let queued = t.queues.iter().find(|q| q.queue == "images_to_analyse").unwrap();
    assert!(queued.max >= 1, "{t:?}");
}
