//! Crawls a URL with spider-rs and prints `pages seconds` on one line.
//! Usage: crawl-peer URL MAX_PAGES CONCURRENCY

use std::time::Instant;

use spider::website::Website;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, limit, concurrency) = match args.as_slice() {
        [_, url, limit, concurrency] => (url.clone(), limit.parse().unwrap_or(5_000), concurrency.parse().unwrap_or(16)),
        _ => {
            eprintln!("usage: crawl-peer URL MAX_PAGES CONCURRENCY");
            std::process::exit(2);
        }
    };
    let mut website = Website::new(&url);
    website
        .with_limit(limit)
        .with_respect_robots_txt(true)
        .with_concurrency_limit(Some(concurrency))
        .with_depth(50);
    let started = Instant::now();
    website.crawl().await;
    let secs = started.elapsed().as_secs_f64();
    let pages = website.get_all_links_visited().await.len();
    println!("{pages} {secs:.3}");
}
