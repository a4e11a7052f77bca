//! Rendering with a real headless Chromium (Debian's `chromium`, started by the product) over
//! the scripted fixture site: what `auto`, `always` and `never` find, what is recorded on each
//! page, and that nothing the browser fetches reaches an address the guard refuses.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use image_chat_core::cache::MemoryCache;
use image_chat_core::crawl::{CrawlSummary, Crawler, PageOutcome, PageReport};
use image_chat_core::model::FoundBy;
use image_chat_core::net::{FetchConfig, Fetcher, Guard, HttpFetcher};
use image_chat_core::render::{BrowserOptions, Chromium, PagePlan, RenderFetcher, RenderMode, find_executable};
use image_chat_fixtures::scripted::{self, ScriptedSite, SecretServer};
use image_chat_fixtures::skip::{Need, skip};

const ALLOW: &str = "127.0.0.1";

fn chromium_or_skip() -> bool {
    match find_executable(None) {
        Ok(_) => true,
        Err(e) => {
            skip(Need::Service, &e.to_string());
            false
        }
    }
}

fn renderer(budget: Duration) -> (Arc<Chromium>, Arc<dyn Fetcher>) {
    let chromium = Arc::new(Chromium::new(BrowserOptions {
        executable: None,
        tabs: 2,
        relaunch_after: 100,
        user_agent: "image-chat-test".into(),
        allow_hosts: vec![ALLOW.into()],
    }));
    let http: Arc<dyn Fetcher> = Arc::new(
        HttpFetcher::new(FetchConfig::from_settings(&Default::default()), Guard::new(&[ALLOW.to_string()])).unwrap(),
    );
    let plan = PagePlan { budget, max_scrolls: 8, ..PagePlan::default() };
    (chromium.clone(), Arc::new(RenderFetcher::new(chromium, plan, http)))
}

async fn crawl(site: &ScriptedSite, mode: RenderMode, renderer: Arc<dyn Fetcher>) -> (CrawlSummary, Vec<PageReport>) {
    let mut pages = Vec::new();
    let crawler = Crawler::new(site.url("/").parse().unwrap())
        .allow_hosts([ALLOW])
        .max_pages(20)
        .render(mode)
        .renderer(Ok(renderer));
    let summary = tokio::time::timeout(Duration::from_secs(240), crawler.run(|p| pages.push(p)))
        .await
        .expect("the crawl finished");
    (summary, pages)
}

fn by_path(pages: &[PageReport]) -> HashMap<String, &PageReport> {
    pages.iter().map(|p| (p.url.path().to_string(), p)).collect()
}

fn render_of(page: &PageReport) -> (bool, String) {
    match &page.outcome {
        PageOutcome::Ok { render: Some(r), .. } => (r.rendered, r.why.clone()),
        other => panic!("{}: {other:?}", page.url),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_renders_the_script_built_pages_and_finds_their_images() {
    if !chromium_or_skip() {
        return;
    }
    let secret = SecretServer::start().await.unwrap();
    let site = ScriptedSite::start(secret.addr().port()).await.unwrap();
    let (_chromium, render) = renderer(Duration::from_secs(20));
    let (summary, pages) = crawl(&site, RenderMode::Auto, render).await;
    let pages = by_path(&pages);

    let gallery = pages["/gallery"];
    let (rendered, why) = render_of(gallery);
    assert!(rendered, "the gallery is rendered: {why}");
    assert!(why.contains("#root"), "{why}");
    let alts: Vec<&str> = gallery.images.iter().map(|i| i.context.alt.as_str()).collect();
    for (_, alt) in scripted::gallery() {
        assert!(alts.contains(&alt.as_str()), "{alt} in {alts:?}");
    }
    assert!(gallery.images.iter().all(|i| i.found_by == FoundBy::Render));

    let feed = pages["/feed"];
    assert!(render_of(feed).0);
    assert!(
        feed.images.len() > scripted::FEED_PAGE,
        "scrolling loaded more of the feed than its first page: {}",
        feed.images.len()
    );

    let cards = pages["/cards"];
    assert!(render_of(cards).0, "{:?}", render_of(cards));
    let card_urls: Vec<String> = cards.images.iter().map(|i| i.url.path().to_string()).collect();
    for k in 0..scripted::CARDS {
        assert!(card_urls.contains(&format!("/img/card-{k}-600x400.jpg")), "{card_urls:?}");
    }

    let (rendered, why) = render_of(pages["/plain"]);
    assert!(!rendered && why.starts_with("not needed"), "a server-rendered page is not rendered: {why}");
    assert_eq!(pages["/plain"].images.len(), 2);

    assert!(summary.counters.pages_rendered >= 3, "{:?}", summary.counters);
    assert!(summary.counters.images_from_render >= (scripted::GALLERY_IMAGES + scripted::CARDS) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_finds_exactly_what_each_page_shows() {
    if !chromium_or_skip() {
        return;
    }
    let site = ScriptedSite::start(1).await.unwrap();
    let budget = Duration::from_secs(20);
    let (_chromium, render) = renderer(budget);
    let (summary, pages) = crawl(&site, RenderMode::Always, render).await;
    let pages = by_path(&pages);
    for (path, want) in scripted::expected() {
        let page = pages.get(path).unwrap_or_else(|| panic!("{path} was crawled"));
        let (rendered, why) = render_of(page);
        assert!(rendered, "{path}: {why}");
        let mut got: Vec<String> = page.images.iter().map(|i| i.url.path().to_string()).collect();
        got.sort();
        let mut paths: Vec<String> = want.iter().map(|(p, _)| p.clone()).collect();
        paths.sort();
        assert_eq!(got, paths, "{path}");
        for (p, alt) in want.iter().filter(|(_, a)| !a.is_empty()) {
            let image = page.images.iter().find(|i| i.url.path() == p).unwrap();
            assert_eq!(&image.context.alt, alt, "{path}: {p}");
        }
    }
    // A server-rendered page's images are found in its HTML, rendered or not.
    assert!(pages["/plain"].images.iter().all(|i| i.found_by == FoundBy::Html));
    assert!(pages["/gallery"].images.iter().all(|i| i.found_by == FoundBy::Render));
    // The gallery's figcaptions are read as captions, as in a server-rendered page.
    assert!(pages["/gallery"].images.iter().all(|i| i.context.figcaption == i.context.alt));

    // The endless feed and the page that never stops polling end within the budget.
    for path in ["/feed", "/polling"] {
        let PageOutcome::Ok { render: Some(r), .. } = &pages[path].outcome else { panic!("{path}") };
        assert!(r.rendered, "{path}: {}", r.why);
        let ms = r.ms.unwrap_or(0);
        assert!(ms <= (budget + Duration::from_secs(6)).as_millis() as u64, "{path} took {ms} ms");
    }
    assert!(pages["/feed"].images.len() > scripted::FEED_PAGE);
    assert_eq!(summary.counters.pages_rendered as usize, pages.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_crawl_takes_the_rendered_page_from_the_cache() {
    if !chromium_or_skip() {
        return;
    }
    let site = ScriptedSite::start(1).await.unwrap();
    let cache = Arc::new(MemoryCache::new(1_000, 64 << 20));
    let (_chromium, render) = renderer(Duration::from_secs(20));
    let run = || {
        let mut pages = Vec::new();
        let crawler = Crawler::new(site.url("/gallery").parse().unwrap())
            .allow_hosts([ALLOW])
            .max_pages(1)
            .html_freshness(Duration::from_secs(3600))
            .cache(cache.clone())
            .render(RenderMode::Always)
            .renderer(Ok(render.clone()));
        async move {
            crawler.run(|p| pages.push(p)).await;
            pages.remove(0)
        }
    };
    let first = run().await;
    let second = run().await;
    let (rendered, why) = render_of(&second);
    assert!(rendered && why.contains("the rendered copy in the cache"), "{why}");
    assert_eq!(first.images.len(), scripted::GALLERY_IMAGES);
    assert_eq!(second.images.len(), scripted::GALLERY_IMAGES);
    assert!(second.images.iter().all(|i| i.found_by == FoundBy::Render));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_finds_nothing_scripts_add() {
    if !chromium_or_skip() {
        return;
    }
    let site = ScriptedSite::start(1).await.unwrap();
    let (chromium, render) = renderer(Duration::from_secs(20));
    let (summary, pages) = crawl(&site, RenderMode::Never, render).await;
    let pages = by_path(&pages);
    assert!(pages["/gallery"].images.is_empty());
    assert!(matches!(pages["/gallery"].outcome, PageOutcome::Ok { render: None, .. }));
    assert_eq!(summary.counters.pages_rendered, 0);
    assert!(!chromium.is_running().await, "`never` does not start the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_the_browser_fetches_reaches_a_refused_address() {
    if !chromium_or_skip() {
        return;
    }
    let secret = SecretServer::start().await.unwrap();
    let site = ScriptedSite::start(secret.addr().port()).await.unwrap();
    let (chromium, render) = renderer(Duration::from_secs(20));
    let mut pages = Vec::new();
    let crawler = Crawler::new(site.url("/ssrf").parse().unwrap())
        .allow_hosts([ALLOW])
        .max_pages(1)
        .render(RenderMode::Always)
        .renderer(Ok(render));
    crawler.run(|p| pages.push(p)).await;
    let page = &pages[0];
    assert!(render_of(page).0, "{:?}", page.outcome);
    assert!(
        page.images.iter().any(|i| i.context.alt == "the picture that is allowed"),
        "the page's own script ran: {:?}",
        page.images.iter().map(|i| &i.url).collect::<Vec<_>>()
    );
    // Give stragglers (the worker, the beacon) time to try.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(secret.hits(), 0, "the secret server was reached");
    let refusals = chromium.egress().recent_refusals();
    assert!(!refusals.is_empty(), "the proxy saw and refused the attempts");
    assert!(refusals.iter().any(|r| r.contains("127.0.0.2")), "{refusals:?}");
}
