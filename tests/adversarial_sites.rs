//! A crawl of the hostile fixture site through the real server: every attack the reliability
//! review found (pages nested 100,000 deep, pages of 200,000 images, a sitemap index of 7.5
//! million URLs, 24-megapixel 16-bit PNGs) ends with its recorded outcome, the process's memory
//! stays bounded, and `/health` keeps answering throughout.
//!
//! One test in its own binary: it measures the whole process's peak memory, which other tests
//! running beside it would blur.

mod common;

// Measure with the allocator the product binary runs on (glibc's keeps far more of what
// the blocking threads freed).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{data_dir, spawn_in};
use image_chat_fixtures::hostile::{self, HostileServer};
use serde_json::Value;

/// Peak memory the crawl may add to the process. Without the memory budgets this crawl took
/// 2.9 GB (the review measured 4 GB for its image pages, 6.7 GB for the sitemaps, 1.1 GB for the
/// PNGs); with them ~0.86 GB here: the embedding model loading, one 192 MB picture decoded at a
/// time, pages parsed 12 MiB of HTML at a time (a page of bare tags takes 30 times its size).
const PEAK_GROWTH_BOUND: u64 = 1_280 << 20;
/// Longest `/health` may take while the crawl runs. It took 2-3.7 s while the raw HTML of
/// pages of 200,000 images was scanned for signs of script-built content on the async threads
/// (and 2.6 s, earlier, while sitemaps were parsed there); with that scan on the parsing
/// threads, 30-140 ms on a 2-core machine.
const HEALTH_BOUND: Duration = Duration::from_secs(1);

/// (resident now, peak resident) of this process, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_site_costs_bounded_memory_and_every_attack_is_recorded() {
    let (_dir, data) = data_dir();
    let app = spawn_in(&data, |_| {}).await;
    let site = HostileServer::start().await.unwrap();
    let attacks = hostile::table();
    let max_pages = attacks.len() as u32 + 6;

    // The peak from here on: start-up (the model, the fixture's pages) is not the crawl's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (before, _) = memory();

    let health_worst = Arc::new(AtomicU64::new(0));
    let crawling = Arc::new(AtomicBool::new(true));
    let poller = {
        let (url, worst, crawling) = (app.url("/health"), health_worst.clone(), crawling.clone());
        let client = reqwest::Client::new();
        tokio::spawn(async move {
            while crawling.load(Ordering::Relaxed) {
                let asked = Instant::now();
                let status = client.get(&url).timeout(Duration::from_secs(30)).send().await.map(|r| r.status());
                assert!(status.as_ref().is_ok_and(|s| s.is_success()), "/health failed during the crawl: {status:?}");
                worst.fetch_max(asked.elapsed().as_millis() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let started = Instant::now();
    let id = app.crawl(&site.url("/"), max_pages).await;
    let events = app.events_then(&id, || site.open()).await;
    let took = started.elapsed();
    crawling.store(false, Ordering::Relaxed);
    poller.await.unwrap();
    let (after, peak) = memory();

    let (_, finished) = events.last().expect("events");
    assert_eq!(events.last().unwrap().0, "finished", "{finished}");
    let session = finished;
    let pages: Vec<&Value> = events.iter().filter(|(name, _)| name == "page").map(|(_, data)| data).collect();
    let outcome = |path: &str| {
        pages
            .iter()
            .find(|p| p["url"].as_str().is_some_and(|u| u == site.url(path)))
            .map(|p| (p["outcome"].as_str().unwrap_or("").to_string(), p["reason"].clone()))
    };
    let mut report = Vec::new();
    for (path, what, expected) in &attacks {
        let got = outcome(path);
        report.push(format!("{path} ({what}): {got:?}"));
        match (*expected, &got) {
            // Pages that parse are reported only as a sample; one that does not is always reported.
            ("ok", None) => {}
            (expected, Some((outcome, _))) => assert_eq!(outcome, expected, "{path} ({what})"),
            (expected, None) => panic!("{path} ({what}): no outcome recorded, expected {expected}"),
        }
    }
    let counters = &session["counters"];
    assert_eq!(counters["pages_failed"], 2 + hostile::TOO_MANY_IMAGE_PAGES as u64, "{counters}");
    assert!(counters["pages_fetched"].as_u64().unwrap() >= attacks.len() as u64, "{counters}");
    assert_eq!(
        counters["sitemaps_cut"],
        hostile::SITEMAPS as u64,
        "each sitemap past the budget is counted: {counters}"
    );
    // Each of the deep PNGs was decoded, in turns.
    let analysed = events
        .iter()
        .filter(|(name, _)| name == "indexed")
        .filter_map(|(_, data)| data["images_analysed"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(analysed >= hostile::DEEP_PNGS as u64, "{analysed} images analysed");

    let growth = peak.saturating_sub(before);
    let worst = Duration::from_millis(health_worst.load(Ordering::Relaxed));
    println!(
        "hostile site: crawled in {:.1} s; memory {} MB before, peak {} MB (+{} MB), {} MB after; /health at worst {} ms\n  {}",
        took.as_secs_f64(),
        before >> 20,
        peak >> 20,
        growth >> 20,
        after >> 20,
        worst.as_millis(),
        report.join("\n  ")
    );
    assert!(growth < PEAK_GROWTH_BOUND, "the crawl took {} MB at its peak", growth >> 20);
    assert!(worst < HEALTH_BOUND, "/health took {} ms during the crawl", worst.as_millis());
}
