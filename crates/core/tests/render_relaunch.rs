//! A browser killed mid-crawl is relaunched and the crawl finishes (its own test binary: it
//! kills every Chromium this process started).

use std::sync::Arc;
use std::time::Duration;

use image_chat_core::crawl::{CrawlEvent, Crawler, PageOutcome};
use image_chat_core::net::{FetchConfig, Fetcher, Guard, HttpFetcher};
use image_chat_core::render::{BrowserOptions, Chromium, PagePlan, RenderFetcher, RenderMode, find_executable};
use image_chat_fixtures::scripted::{self, ScriptedSite};
use image_chat_fixtures::skip::{Need, skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_killed_mid_crawl_is_relaunched_and_the_crawl_finishes() {
    if let Err(e) = find_executable(None) {
        return skip(Need::Service, &e.to_string());
    }
    let site = ScriptedSite::start(1).await.unwrap();
    let allow = vec!["127.0.0.1".to_string()];
    let chromium = Arc::new(Chromium::new(BrowserOptions {
        executable: None,
        tabs: 1,
        relaunch_after: 1000,
        user_agent: "image-chat-test".into(),
        allow_hosts: allow.clone(),
    }));
    let http: Arc<dyn Fetcher> =
        Arc::new(HttpFetcher::new(FetchConfig::from_settings(&Default::default()), Guard::new(&allow)).unwrap());
    let plan = PagePlan { budget: Duration::from_secs(15), max_scrolls: 6, ..PagePlan::default() };
    let render: Arc<dyn Fetcher> = Arc::new(RenderFetcher::new(chromium.clone(), plan, http));
    let crawler = Crawler::new(site.url("/").parse().unwrap())
        .allow_hosts(allow)
        .max_pages(20)
        .per_host(1, Duration::ZERO)
        .concurrency(1)
        .render(RenderMode::Always)
        .renderer(Ok(render));

    // Kill every Chromium of this process once the first page is in.
    let mut events = crawler.subscribe();
    let killed = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if matches!(event, CrawlEvent::Page { .. }) {
                let marker = format!("image-chat-chromium-{}-", std::process::id());
                let status = std::process::Command::new("pkill").args(["-9", "-f", &marker]).status();
                return status.map(|s| s.success()).unwrap_or(false);
            }
        }
        false
    });
    let mut pages = Vec::new();
    let summary = tokio::time::timeout(Duration::from_secs(300), crawler.run(|p| pages.push(p)))
        .await
        .expect("the crawl finished");
    assert!(killed.await.unwrap(), "the browser was killed");
    let expected = scripted::expected().len();
    assert!(pages.len() >= expected, "every page was crawled: {} of {expected}", pages.len());
    // The page in the browser when it died falls back to its HTML, with the reason; the
    // pages after it are rendered by a fresh browser.
    let rendered_after: Vec<&str> = pages
        .iter()
        .skip(2)
        .filter(|p| matches!(&p.outcome, PageOutcome::Ok { render: Some(r), .. } if r.rendered))
        .map(|p| p.url.path())
        .collect();
    assert!(rendered_after.len() >= expected - 3, "pages rendered after the kill: {rendered_after:?}");
    assert!(chromium.is_running().await, "a browser runs again");
    let gallery = pages.iter().find(|p| p.url.path() == "/gallery").unwrap();
    if let PageOutcome::Ok { render: Some(r), .. } = &gallery.outcome
        && r.rendered
    {
        assert_eq!(gallery.images.len(), scripted::GALLERY_IMAGES);
    }
    assert_eq!(summary.stop, image_chat_core::crawl::StopReason::Completed);
}
