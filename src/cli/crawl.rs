//! `image-chat crawl URL`: crawl a site from the terminal with a progress bar; print a summary,
//! or one JSON image record per line with `--json`.

use std::io::Write;
use std::process::ExitCode;

use super::bad_input;
use std::time::Duration;

use image_chat_core::Settings;
use image_chat_core::cache::MemoryCache;
use image_chat_core::crawl::{CrawlEvent, CrawlOptions, Crawler, PageOutcome};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Args)]
pub struct CrawlArgs {
    /// The site to crawl (http or https).
    url: String,
    /// Most pages to fetch (default: crawler.max_pages; at most crawler.max_pages_limit).
    #[arg(long)]
    max_pages: Option<u32>,
    /// Link depth from the start page (default: crawler.max_depth).
    #[arg(long)]
    depth: Option<u32>,
    /// Write one JSON image record per line to stdout instead of a summary.
    #[arg(long)]
    json: bool,
    /// Only crawl paths matching this pattern (`*` = any characters); repeatable.
    #[arg(long)]
    include: Vec<String>,
    /// Skip paths matching this pattern; repeatable.
    #[arg(long)]
    exclude: Vec<String>,
    /// Also crawl subdomains of the start host.
    #[arg(long)]
    subdomains: bool,
    /// Ignore robots.txt (only for sites you own).
    #[arg(long)]
    no_robots: bool,
    /// Do not read sitemaps.
    #[arg(long)]
    no_sitemaps: bool,
    /// Let the SSRF guard through for this loopback/private host (e.g. 127.0.0.1); repeatable.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Embed the images and store them in the data dir's index for `image-chat search`.
    #[arg(long)]
    index: bool,
    /// Index namespace (default: the start URL's host, dots as dashes).
    #[arg(long, requires = "index")]
    namespace: Option<String>,
}

pub async fn run(args: CrawlArgs, settings: Settings) -> ExitCode {
    let start = match url::Url::parse(args.url.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        Ok(u) => return bad_input(&format!("`{}` is not an http(s) URL with a host", u)),
        Err(e) => return bad_input(&format!("`{}` is not a URL: {e}", args.url)),
    };
    let limits = &settings.crawler;
    let max_pages = args.max_pages.unwrap_or(limits.max_pages);
    if max_pages == 0 || max_pages > limits.max_pages_limit {
        return bad_input(&format!(
            "--max-pages must be between 1 and {} (crawler.max_pages_limit)",
            limits.max_pages_limit
        ));
    }
    let depth = args.depth.unwrap_or(limits.max_depth);
    if depth > limits.max_depth_limit {
        return bad_input(&format!("--depth must be at most {} (crawler.max_depth_limit)", limits.max_depth_limit));
    }
    let mut opts = CrawlOptions::from_settings(limits);
    opts.allow_hosts.extend(args.allow_hosts);
    let cache = MemoryCache::new(settings.cache.max_entries, settings.cache.max_bytes);
    let crawler = Crawler::with_options(start.clone(), opts)
        .max_pages(max_pages)
        .max_depth(depth)
        .include(args.include)
        .exclude(args.exclude)
        .subdomains(args.subdomains)
        .respect_robots(!args.no_robots)
        .use_sitemaps(!args.no_sitemaps)
        .cache(std::sync::Arc::new(cache));

    let bar = ProgressBar::new(u64::from(max_pages));
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} pages · {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut events = crawler.subscribe();
    let progress_bar = bar.clone();
    let progress = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(CrawlEvent::Progress { counters, current_url }) => {
                    progress_bar.set_position(counters.pages_fetched);
                    progress_bar.set_message(format!("{} images · {}", counters.images_kept, current_url));
                }
                Ok(CrawlEvent::Finished { .. }) | Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                Ok(CrawlEvent::Page { .. }) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            }
        }
    });
    let cancel = crawler.cancel_handle();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });

    let json = args.json;
    let keep = args.index;
    let mut kept = Vec::new();
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    let mut write_error = None;
    let summary = crawler
        .run(|page| {
            if json {
                for image in &page.images {
                    let line = serde_json::to_string(image).unwrap_or_default();
                    if let Err(e) = writeln!(stdout, "{line}") {
                        write_error.get_or_insert(e);
                    }
                }
            }
            if keep {
                kept.extend(page.images);
            }
        })
        .await;
    if let Err(e) = stdout.flush() {
        write_error.get_or_insert(e);
    }
    interrupt.abort();
    let _ = progress.await;
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return bad_input(&format!("cannot write the records: {e}"));
    }

    let c = &summary.counters;
    let mut out = std::io::stderr().lock();
    let _ = writeln!(
        out,
        "crawled {} in {:.2} s — {:?}",
        summary.start_url,
        summary.elapsed_ms as f64 / 1000.0,
        summary.stop
    );
    let _ = writeln!(
        out,
        "pages: {} fetched ({} from cache), {} failed, {} skipped, {} still queued",
        c.pages_fetched, c.pages_from_cache, c.pages_failed, c.pages_skipped, c.pages_queued
    );
    let _ = writeln!(
        out,
        "images: {} found, {} kept, {} duplicates, {} rejected",
        c.images_found, c.images_kept, c.images_deduplicated, c.images_rejected
    );
    for (reason, n) in &c.rejected_by_reason {
        let _ = writeln!(out, "  rejected {reason}: {n}");
    }
    let failures: Vec<_> =
        summary.pages.iter().filter(|p| matches!(p.outcome, PageOutcome::Failed { .. })).take(10).collect();
    for p in &failures {
        if let PageOutcome::Failed { reason } = &p.outcome {
            let _ = writeln!(out, "  failed {}: {reason}", p.url);
        }
    }
    if c.pages_fetched == 0 || summary.stop == image_chat_core::crawl::StopReason::StartRefused {
        return ExitCode::FAILURE;
    }
    if args.index {
        let namespace = args.namespace.unwrap_or_else(|| start.host_str().unwrap_or("site").replace('.', "-"));
        let mut kept = kept;
        if settings.crawler.analyze_images {
            analyze_images(&settings, &mut kept, &mut out).await;
            let too_small = image_chat_core::enrich::drop_too_small(&mut kept);
            if too_small > 0 {
                let _ = writeln!(
                    out,
                    "left out {too_small} images whose bytes showed a tracking pixel or under 50 px on a side"
                );
            }
        }
        return match tokio::task::block_in_place(|| index_images(&settings, &namespace, kept)) {
            Ok(n) => {
                let _ = writeln!(
                    out,
                    "indexed {n} images into namespace {namespace} ({})",
                    settings.data_dir.join("index.sqlite").display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(&e.to_string()),
        };
    }
    ExitCode::SUCCESS
}

/// Fetches and analyses the images (real size and format, transparency, brightness, perceptual
/// hash), with a progress bar. Images the site says are not there are left out; others that
/// cannot be read keep what their markup said.
async fn analyze_images(
    settings: &Settings,
    images: &mut Vec<image_chat_core::extract::ImageRecord>,
    out: &mut impl std::io::Write,
) {
    let enricher = match image_chat_core::enrich::Enricher::from_settings(&settings.crawler) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("warning: images not analysed: {e}");
            return;
        }
    };
    let bar = ProgressBar::new(images.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("analysing {bar:30} {pos}/{len} images")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let (mut analysed, mut failed, mut missing, mut refused) = (0, 0, 0, 0);
    let mut rest = std::mem::take(images);
    while !rest.is_empty() {
        let mut chunk: Vec<_> = rest.drain(..rest.len().min(64)).collect();
        let asked = chunk.len() as u64;
        let stats = enricher.enrich(&mut chunk).await;
        analysed += stats.analysed;
        failed += stats.failed;
        missing += stats.missing;
        refused += stats.refused_by_robots;
        images.append(&mut chunk);
        bar.inc(asked);
    }
    bar.finish_and_clear();
    let _ = writeln!(
        out,
        "analysed {analysed} images ({failed} could not be fetched or read, {refused} forbidden by robots.txt)"
    );
    if missing > 0 {
        let _ = writeln!(out, "left out {missing} images the site says are not there (404, 410 or a web page)");
    }
}

/// Embeds (when the model is there) and stores the crawl's images, with a progress bar.
fn index_images(
    settings: &Settings,
    namespace: &str,
    images: Vec<image_chat_core::extract::ImageRecord>,
) -> image_chat_core::Result<usize> {
    use image_chat_core::embed::{CachedEmbedder, Embedder, image_text};
    use image_chat_core::index::{ImageIndex, SqliteIndex, check_namespace};
    check_namespace(namespace)?;
    // The server builds graphs for large namespaces when it next opens the index.
    let exact = image_chat_core::index::AnnOptions { min_vectors: usize::MAX, ..Default::default() };
    let index = SqliteIndex::open_configured(settings)?.with_ann(exact);
    // Alt texts repeat a lot across a site: each distinct text is embedded once.
    let embedder = match image_chat_core::embed::load(&settings.model) {
        Ok(e) => Some(CachedEmbedder::new(e, settings.cache.max_entries)),
        Err(e) => {
            eprintln!("warning: {e}; indexing for keyword search only");
            None
        }
    };
    let bar = ProgressBar::new(images.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("indexing {bar:30} {pos}/{len} images")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    for chunk in images.chunks(256) {
        let texts: Vec<String> = chunk.iter().map(|r| image_text(&r.context)).collect();
        let vectors: Vec<Option<Vec<f32>>> = match &embedder {
            Some(e) => {
                let with_text: Vec<&str> = texts.iter().map(String::as_str).filter(|t| !t.is_empty()).collect();
                let mut embedded = e.embed(&with_text)?.into_iter();
                texts.iter().map(|t| if t.is_empty() { None } else { embedded.next() }).collect()
            }
            None => vec![None; chunk.len()],
        };
        let items: Vec<_> = chunk.iter().cloned().zip(vectors).collect();
        index.upsert(namespace, &items)?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if let Some(e) = &embedder {
        let (reused, embedded) = e.counts();
        eprintln!("embedded {embedded} distinct texts ({reused} repeats reused)");
    }
    Ok(images.len())
}
