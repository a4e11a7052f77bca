//! The fixture server over real HTTP, as a crawler meets it.

use std::time::Duration;

use image_chat_fixtures::{FixtureConfig, FixtureServer, SiteSpec};
use reqwest::StatusCode;
use reqwest::redirect::Policy;

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).timeout(Duration::from_secs(10)).build().unwrap()
}

async fn generated(pages: u32) -> FixtureServer {
    FixtureServer::start(FixtureConfig::generated(SiteSpec { pages, seed: 3, traps: true })).await.unwrap()
}

#[tokio::test]
async fn pages_robots_and_sitemaps_use_the_servers_own_origin() {
    let server = generated(120).await;
    let c = client();
    let home = c.get(server.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = home.text().await.unwrap();
    assert!(html.contains(&format!("<link rel=\"canonical\" href=\"{}/\">", server.origin())));
    assert!(html.contains("href=\"/trap/\""), "traps are linked from the home page");

    let robots = c.get(server.url("/robots.txt")).send().await.unwrap().text().await.unwrap();
    assert!(robots.contains("Disallow: /private/"));
    assert!(robots.contains(&format!("Sitemap: {}/sitemap.xml", server.origin())));

    let index = c.get(server.url("/sitemap.xml")).send().await.unwrap().text().await.unwrap();
    assert!(index.contains(&format!("{}/sitemaps/pages-0.xml", server.origin())));
    let urls = c.get(server.url("/sitemaps/pages-0.xml")).send().await.unwrap().text().await.unwrap();
    assert_eq!(urls.matches("<loc>").count(), 120);

    let last = c.get(server.url("/page/119")).send().await.unwrap();
    assert_eq!(last.status(), StatusCode::OK);
    assert_eq!(c.get(server.url("/page/120")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(c.get(server.url("/missing/3")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn served_html_matches_the_ground_truth() {
    let server = generated(30).await;
    let site = server.site().unwrap();
    for i in [0, 7, 29] {
        let path = image_chat_fixtures::GeneratedSite::page_path(i);
        let html = client().get(server.url(&path)).send().await.unwrap().text().await.unwrap();
        assert_eq!(Some(html.clone()), site.render(i, &server.origin()));
        for img in site.truth(i).unwrap().images {
            assert!(html.contains(&img.url), "page {i} lacks {}", img.url);
        }
    }
}

#[tokio::test]
async fn redirects_chain_to_the_page_and_images_have_real_bytes() {
    let server = generated(20).await;
    let c = client();
    let r = c.get(server.url("/moved/5")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "/go/5");
    let r = c.get(server.url("/go/5")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers()["location"], "/page/5");

    let truth = server.site().unwrap().truth(1).unwrap();
    for img in truth.images.iter().filter(|i| i.url.starts_with("/img/")) {
        let r = c.get(server.url(&img.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", img.url);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("image/"));
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    let logo = c.get(server.url("/static/logo.png")).send().await.unwrap();
    assert_eq!(logo.headers()["content-type"], "image/png");
}

#[tokio::test]
async fn the_request_log_records_what_was_asked() {
    let server = generated(10).await;
    let c = client();
    c.get(server.url("/page/1?x=1")).send().await.unwrap();
    c.get(server.url("/page/1")).send().await.unwrap();
    assert_eq!(server.hits("/page/1"), 2);
    assert!(server.requests().contains(&"GET /page/1?x=1".to_string()));
    let post = c.post(server.url("/")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn traps_misbehave_as_documented() {
    let server = generated(5).await;
    let c = client();
    for _ in 0..2 {
        let r = c.get(server.url("/trap/rate-limited/k?times=2&retry_after=3")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "3");
    }
    let r = c.get(server.url("/trap/rate-limited/k?times=2&retry_after=3")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r = c.get(server.url("/trap/flaky/k")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(c.get(server.url("/trap/flaky/k")).send().await.unwrap().status(), StatusCode::OK);

    let r = c.get(server.url("/trap/redirect-loop/41")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/trap/redirect-loop/42");
    assert_eq!(c.get(server.url("/trap/status/503")).send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);

    let r = c.get(server.url("/trap/huge?mb=2")).send().await.unwrap();
    let declared: u64 = r.headers()["content-length"].to_str().unwrap().parse().unwrap();
    assert!(declared >= 2 * 1024 * 1024);
    assert_eq!(r.bytes().await.unwrap().len() as u64, declared);
    let r = c.get(server.url("/trap/huge-chunked?mb=1")).send().await.unwrap();
    assert!(r.headers().get("content-length").is_none());

    let raw = reqwest::Client::builder().no_gzip().build().unwrap();
    let r = raw.get(server.url("/trap/gzip")).send().await.unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(&r.bytes().await.unwrap()[..2], &[0x1f, 0x8b]);
    let decoded = c.get(server.url("/trap/gzip")).send().await.unwrap().text().await.unwrap();
    assert!(decoded.contains("a compressed page's image"));

    let r = c.get(server.url("/trap/latin1")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().contains("iso-8859-1"));
    assert!(r.bytes().await.unwrap().windows(4).any(|w| w == b"caf\xe9"));

    let r = c.get(server.url("/trap/wrong-type/image")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");

    let started = std::time::Instant::now();
    let r = c.get(server.url("/trap/slow-headers?ms=300")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let cal = c.get(server.url("/trap/calendar/5")).send().await.unwrap().text().await.unwrap();
    assert!(cal.contains("/trap/calendar/6") && cal.contains("/trap/calendar/4"));
    let index = c.get(server.url("/trap/")).send().await.unwrap().text().await.unwrap();
    assert!(index.matches("<li>").count() >= 15);
}

#[tokio::test]
async fn the_sanctuaries_mirror_is_served_with_its_origin_rewritten() {
    let Some(root) = image_chat_fixtures::skip::shared_or_skip("sites/sanctuaries.marinebon.org") else { return };
    let server = FixtureServer::start(FixtureConfig::folder(&root, "https://sanctuaries.marinebon.org")).await.unwrap();
    let c = client();
    let home = c.get(server.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!home.contains("sanctuaries.marinebon.org"), "the origin must be rewritten everywhere");
    assert!(home.contains(&format!("{}/contact/", server.origin())));
    let contact = c.get(server.url("/contact/")).send().await.unwrap();
    assert_eq!(contact.status(), StatusCode::OK);
    let robots = c.get(server.url("/robots.txt")).send().await.unwrap().text().await.unwrap();
    assert!(robots.contains("Disallow: /wp-admin/"));
    let img = c.get(server.url("/wp-content/themes/sage/dist/images/contact-us-background.jpg")).send().await.unwrap();
    assert_eq!(img.headers()["content-type"], "image/jpeg");
    assert_eq!(c.get(server.url("/no/such/page/")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}
