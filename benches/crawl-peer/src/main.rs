//! Crawls a URL with spider-rs and prints `pages seconds images` on one line.
//!
//! Usage: crawl-peer URL MAX_PAGES CONCURRENCY [links|images]
//!
//! `links` (the default) is spider reading links only. `images` is the equal-work peer of
//! image-chat's crawl: every page spider fetches is also parsed with `scraper` and its images
//! read as image-chat reads them at the least — `img` `src`/`srcset`, `picture > source`
//! `srcset`, resolved against the page URL — off the async threads, as many at once as the
//! crawl's concurrency; `images` is how many distinct image URLs that found.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use scraper::{Html, Selector};
use spider::website::Website;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The URLs of a `srcset`: each candidate's first word.
fn srcset_urls(srcset: &str) -> impl Iterator<Item = &str> {
    srcset.split(',').filter_map(|c| c.split_whitespace().next())
}

fn extract(html: &str, page: &str, found: &Mutex<HashSet<String>>) {
    let Ok(base) = url::Url::parse(page) else { return };
    let doc = Html::parse_document(html);
    let img = Selector::parse("img").expect("a valid selector");
    let source = Selector::parse("picture > source").expect("a valid selector");
    let mut urls = Vec::new();
    for el in doc.select(&img) {
        let v = el.value();
        urls.extend(v.attr("src").map(str::to_string));
        urls.extend(v.attr("srcset").into_iter().flat_map(srcset_urls).map(str::to_string));
    }
    for el in doc.select(&source) {
        urls.extend(el.value().attr("srcset").into_iter().flat_map(srcset_urls).map(str::to_string));
    }
    let resolved: Vec<String> = urls.iter().filter_map(|u| base.join(u.trim()).ok()).map(String::from).collect();
    found.lock().unwrap_or_else(|e| e.into_inner()).extend(resolved);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, limit, concurrency, images) = match args.as_slice() {
        [_, url, limit, concurrency, rest @ ..] if rest.len() <= 1 => (
            url.clone(),
            limit.parse().unwrap_or(5_000),
            concurrency.parse().unwrap_or(16),
            rest.first().is_some_and(|m| m == "images"),
        ),
        _ => {
            eprintln!("usage: crawl-peer URL MAX_PAGES CONCURRENCY [links|images]");
            std::process::exit(2);
        }
    };
    let mut website = Website::new(&url);
    website
        .with_limit(limit)
        .with_respect_robots_txt(true)
        .with_concurrency_limit(Some(concurrency))
        .with_depth(50);
    let found = Arc::new(Mutex::new(HashSet::new()));
    let started = Instant::now();
    let reader = images.then(|| {
        let mut pages = website.subscribe(16_384);
        let found = found.clone();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(concurrency));
            let mut work = JoinSet::new();
            while let Ok(page) = pages.recv().await {
                let permit = slots.clone().acquire_owned().await.expect("never closed");
                let (html, page_url, found) = (page.get_html(), page.get_url().to_string(), found.clone());
                work.spawn_blocking(move || {
                    extract(&html, &page_url, &found);
                    drop(permit);
                });
            }
            while work.join_next().await.is_some() {}
        })
    });
    website.crawl().await;
    website.unsubscribe();
    if let Some(reader) = reader {
        let _ = reader.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let pages = website.get_all_links_visited().await.len();
    let images = found.lock().unwrap_or_else(|e| e.into_inner()).len();
    println!("{pages} {secs:.3} {images}");
}
