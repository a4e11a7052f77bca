//! Extraction throughput over the real pages of `shared/data/html/`, beside scraper's bare parse
//! of the same bytes (the floor: extraction parses once and walks the tree once).
//!
//! Run: `cargo bench -p image-chat-core --bench extract`

use std::hint::black_box;

// The product binary runs on mimalloc; measure with the same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image_chat_core::extract;
use image_chat_fixtures::shared::shared_data_dir;
use url::Url;

fn pages() -> Vec<(Url, String)> {
    let Some(dir) = shared_data_dir().map(|d| d.join("html/readability")) else { return Vec::new() };
    let mut pages: Vec<(Url, String)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "html"))
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().to_string();
                    let html = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                    (Url::parse(&format!("http://pages.test/{name}")).unwrap(), html)
                })
                .collect()
        })
        .unwrap_or_default();
    pages.sort_by(|a, b| a.0.cmp(&b.0));
    pages
}

fn bench(c: &mut Criterion) {
    let pages = pages();
    if pages.is_empty() {
        eprintln!("skipped: ../shared/data/html/readability is absent");
        return;
    }
    let bytes: usize = pages.iter().map(|(_, h)| h.len()).sum();
    let mut group = c.benchmark_group("readability_pages");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    group.bench_function("scraper_parse_only", |b| {
        b.iter(|| {
            for (_, html) in &pages {
                black_box(scraper::Html::parse_document(black_box(html)));
            }
        })
    });
    group.bench_function("image_chat_extract", |b| {
        b.iter(|| {
            for (url, html) in &pages {
                black_box(extract::extract(black_box(html), url));
            }
        })
    });
    group.bench_function("budget_check_only", |b| {
        b.iter(|| {
            for (_, html) in &pages {
                black_box(extract::budget::check(black_box(html)).is_ok());
            }
        })
    });
    // What the crawler runs: the budget's pre-scan and the chunked parse before the same walk.
    let stop = std::sync::atomic::AtomicBool::new(false);
    group.bench_function("image_chat_extract_within_budget", |b| {
        b.iter(|| {
            for (url, html) in &pages {
                black_box(extract::extract_within(black_box(html), url, &stop).ok());
            }
        })
    });
    group.finish();
    paired_ratio(&pages);
}

/// The two timings above are taken minutes apart, and this shared machine drifts by a few per
/// cent over that; passes of the two, alternated, drift together. Prints the median ratio.
fn paired_ratio(pages: &[(Url, String)]) {
    const ROUNDS: usize = 15;
    let time = |f: &dyn Fn()| {
        let started = std::time::Instant::now();
        f();
        started.elapsed().as_secs_f64()
    };
    let parse = || {
        for (_, html) in pages {
            black_box(scraper::Html::parse_document(black_box(html)));
        }
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let extract = || {
        for (url, html) in pages {
            black_box(extract::extract_within(black_box(html), url, &stop).ok());
        }
    };
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            // Alternate which goes first, so neither always runs on a warmer machine.
            let (p, e) = if round % 2 == 0 {
                let p = time(&parse);
                (p, time(&extract))
            } else {
                let e = time(&extract);
                (time(&parse), e)
            };
            p / e
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "paired passes ({ROUNDS}, alternated): extraction runs at {:.3}x of the bare parse (median; range {:.3}-{:.3})",
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1]
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
