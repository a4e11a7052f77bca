//! Image enrichment: real photos from `../shared/data` (WordPress thumbnails of one photo in
//! three sizes hash alike, different photos do not), and fetching through the guarded fetcher
//! from the fixture site (real size and format by the bytes, failures counted, robots.txt and
//! the SSRF guard obeyed).

use std::path::PathBuf;

use image_chat_core::config::CrawlerSettings;
use image_chat_core::enrich::{Enricher, SAME_PICTURE_BITS, analyze, distance};
use image_chat_core::extract::{ImageContext, ImageRecord, ImageSource, RejectReason};
use image_chat_core::search::ImageFormat;
use image_chat_fixtures::{FixtureConfig, FixtureServer, SiteSpec};
use url::Url;

fn uploads() -> Option<PathBuf> {
    image_chat_fixtures::skip::shared_or_skip("sites/sanctuaries.marinebon.org/wp-content/uploads")
}

#[test]
fn thumbnails_of_one_photo_hash_alike_and_other_photos_do_not() {
    let Some(dir) = uploads() else { return };
    let stems = [
        "2018/04/mbon-and-fce-lter-collaborate",
        "2018/04/girl-and-boys-in-front-of-monitors-cropped",
        "2018/04/ebvs-and-next-gen-satellite-requirements-3",
        "2018/04/ocean-climate-variability-impacts-on-biodiversity",
        "2017/03/andrew-devogelaere-2015",
    ];
    let mut hashes: Vec<(usize, u32, u64)> = Vec::new();
    for (i, stem) in stems.iter().enumerate() {
        for side in [80, 150, 190] {
            let path = dir.join(format!("{stem}-{side}x{side}.jpg"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let facts = analyze(&bytes).unwrap();
            assert_eq!((facts.format, facts.width, facts.height), (ImageFormat::Jpeg, Some(side), Some(side)));
            assert_eq!(facts.transparent, Some(false));
            hashes.push((i, side, facts.dhash.expect("a photo has a hash")));
        }
    }
    for (a, sa, ha) in &hashes {
        for (b, sb, hb) in &hashes {
            let d = distance(*ha, *hb);
            if a == b {
                assert!(d <= SAME_PICTURE_BITS, "{} at {sa} and {sb} px: {d} bits apart", stems[*a]);
            } else {
                assert!(d > SAME_PICTURE_BITS, "{} and {} look alike: {d} bits", stems[*a], stems[*b]);
            }
        }
    }
}

fn record(url: String) -> ImageRecord {
    let url = Url::parse(&url).unwrap();
    ImageRecord {
        page_url: url.clone(),
        source: ImageSource::Img,
        variants: vec![],
        url,
        context: ImageContext::default(),
        found_by: Default::default(),
        facts: None,
    }
}

#[tokio::test]
async fn images_are_fetched_through_the_guard_and_read_by_their_bytes() {
    let server =
        FixtureServer::start(FixtureConfig::generated(SiteSpec { pages: 5, seed: 1, traps: false })).await.unwrap();
    let mut records = vec![
        // A `.webp` URL answered with PNG bytes: the bytes win.
        record(server.url("/img/harbour-800x600.webp")),
        record(server.url("/img/reef-640x480.jpg")),
        record(server.url("/img/gone-missing.png")),
        record("data:image/gif;base64,R0lGODlhAQABAAAAACw=".into()),
        // robots.txt forbids /private/ to everyone: not fetched, as a page there would not be.
        record(server.url("/private/secret-800x600.jpg")),
    ];
    let allowed = CrawlerSettings { allow_hosts: vec!["127.0.0.1".into()], ..CrawlerSettings::default() };
    let stats = Enricher::from_settings(&allowed).unwrap().enrich(&mut records).await;
    assert_eq!((stats.analysed, stats.failed, stats.missing, stats.refused_by_robots), (2, 1, 1, 1), "{stats:?}");
    // The 404 is left out: nobody could see it.
    assert!(records.iter().all(|r| !r.url.path().contains("gone-missing")));
    assert_eq!(records.len(), 4);
    assert!(records[3].url.path().starts_with("/private/") && records[3].facts.is_none());
    let ignoring = CrawlerSettings { respect_robots_txt: false, ..allowed.clone() };
    let mut private = records.split_off(3);
    let stats = Enricher::from_settings(&ignoring).unwrap().enrich(&mut private).await;
    // With robots.txt off it is fetched: the fixture answers /private/ with a web page, so the
    // image is not there either.
    assert_eq!((stats.analysed, stats.failed, stats.missing, stats.refused_by_robots), (0, 1, 1, 0), "{stats:?}");
    assert!(private.is_empty());
    let webp = records[0].facts.as_ref().unwrap();
    assert_eq!((webp.format, webp.width, webp.height), (ImageFormat::Png, Some(800), Some(600)));
    assert_eq!(records[0].format(), Some(ImageFormat::Png));
    assert_eq!(records[0].dimensions(), (Some(800), Some(600)));
    let jpeg = records[1].facts.as_ref().unwrap();
    assert_eq!((jpeg.format, jpeg.width, jpeg.height), (ImageFormat::Jpeg, Some(640), Some(480)));
    assert!(jpeg.luma.is_some() && jpeg.bytes > 0);
    assert!(records[2].url.scheme() == "data" && records[2].facts.is_none());
    assert_eq!(image_chat_core::enrich::too_small(&records[0]), None);
    assert_eq!(image_chat_core::enrich::too_small(&records[2]), None, "not analysed: the markup stands");

    // Markup that hides a pixel or an icon: the real size tells.
    let mut records = vec![record(server.url("/img/badge-40x40.png")), record(server.url("/img/hero-2x2.gif"))];
    let stats = Enricher::from_settings(&allowed).unwrap().enrich(&mut records).await;
    assert_eq!(stats.analysed, 2, "{stats:?}");
    assert_eq!(image_chat_core::enrich::too_small(&records[0]), Some(RejectReason::Tiny));
    assert_eq!(image_chat_core::enrich::too_small(&records[1]), Some(RejectReason::TrackingPixel), "served 1x1");

    // Without the allow-list, loopback is refused like any private address.
    let mut records = vec![record(server.url("/img/harbour-800x600.webp"))];
    let stats = Enricher::from_settings(&CrawlerSettings::default()).unwrap().enrich(&mut records).await;
    assert_eq!((stats.analysed, stats.failed, stats.missing), (0, 1, 0));
    assert!(records.len() == 1 && records[0].facts.is_none(), "a refused fetch says nothing of the image");
}

#[tokio::test]
async fn a_stopped_enrichment_fetches_nothing_more_and_keeps_every_record() {
    let server =
        FixtureServer::start(FixtureConfig::generated(SiteSpec { pages: 5, seed: 1, traps: false })).await.unwrap();
    let mut records: Vec<ImageRecord> =
        (0..20).map(|i| record(server.url(&format!("/img/reef-{}x480.jpg", 640 + i)))).collect();
    let allowed = CrawlerSettings {
        allow_hosts: vec!["127.0.0.1".into()],
        respect_robots_txt: false,
        ..CrawlerSettings::default()
    };
    let enricher = Enricher::from_settings(&allowed).unwrap();
    // A crawl cancelled before its images were analysed: none is fetched, all are kept.
    let stats = enricher.enrich_until(&mut records, std::future::ready(())).await;
    assert_eq!((stats.analysed, stats.failed), (0, 0), "{stats:?}");
    assert_eq!(records.len(), 20);
    assert_eq!(server.hits("/img/"), 0);
    assert!(records.iter().all(|r| r.facts.is_none()));
    // Not stopped: every one is analysed.
    let stats = enricher.enrich_until(&mut records, std::future::pending()).await;
    assert_eq!(stats.analysed, 20, "{stats:?}");
}
